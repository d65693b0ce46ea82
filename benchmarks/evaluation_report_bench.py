"""How long a researcher waits for a campaign's report: 500 images, 9 labels each (4,500 labels).

Builds the campaign in a throw-away test database, then times the report computation, the report page
and the three CSV downloads (median of several runs each) and prints the figures.

Usage: python benchmarks/evaluation_report_bench.py [--images 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402
from django.urls import reverse  # noqa: E402

SCHEMES = {  # label probabilities per scheme, roughly the paper's shape
    "regular": [0.05, 0.10, 0.80, 0.05],
    "noisy": [0.05, 0.12, 0.78, 0.05],
    "random_flip": [0.15, 0.25, 0.45, 0.15],
    "low_active": [0.35, 0.30, 0.20, 0.15],
}
LABELS = ("creative", "novel", "not_novel", "inconclusive")


def build(n_images: int, raters: int = 9, attention: int = 20):
    from annotation.models import Campaign, Label
    from generation.models import GenerationJob, PoolItem, Sample, SamplePool, TrainedModel
    from tests.factories import make_annotator, make_researcher

    rng = np.random.default_rng(0)
    annotators = [make_annotator(f"bench{i}") for i in range(raters)]
    model = TrainedModel.objects.create(name="bench", status="succeeded")
    summary = {s: {"n": 10000, "dr_amortised_mean": 1.0 + i, "dr_optimised_mean": 0.1 * i} for i, s in enumerate(SCHEMES)}
    job = GenerationJob.objects.create(trained_model=model, status="succeeded", summary=summary)
    pool = SamplePool.objects.create(job=job, name="bench", per_scheme=n_images // len(SCHEMES))
    campaign = Campaign.objects.create(name="bench", pool=pool)
    schemes = [list(SCHEMES)[i % len(SCHEMES)] for i in range(n_images)]
    samples = Sample.objects.bulk_create(
        Sample(job=job, scheme=s, index=i, dr_amortised=1.0) for i, s in enumerate(schemes)
    )
    order = rng.permutation(n_images + attention)
    items = PoolItem.objects.bulk_create(
        [PoolItem(pool=pool, position=int(order[i]), sample=s) for i, s in enumerate(samples)]
        + [PoolItem(pool=pool, position=int(order[n_images + j])) for j in range(attention)]
    )
    labels = []
    for item in items:
        probs = SCHEMES[item.sample.scheme] if item.sample_id else [0.02, 0.02, 0.94, 0.02]
        for user in annotators:
            labels.append(
                Label(campaign=campaign, item=item, annotator=user, value=LABELS[rng.choice(4, p=probs)],
                      time_spent_ms=int(rng.integers(800, 9000)))
            )
    Label.objects.bulk_create(labels)
    return campaign, make_researcher("bench-researcher"), len(labels)


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from evaluation.reports import build_report

        campaign, researcher, n_labels = build(args.images)
        client = Client()
        client.force_login(researcher)

        def get(url: str) -> None:
            response = client.get(url)
            assert response.status_code == 200, response.status_code

        print(f"campaign: {args.images} images + 20 attention checks, 9 annotators, {n_labels} labels")
        print(f"{'what':<28}{'median s':>10}{'max s':>10}")
        figures = [
            ("report computation", lambda: build_report(campaign)),
            ("report page (HTTP GET)", lambda: get(reverse("evaluation:report", args=[campaign.pk]))),
        ]
        for kind in ("summary", "consensus", "labels"):
            url = reverse("evaluation:download", args=[campaign.pk, kind])
            figures.append((f"{kind}.csv (HTTP GET)", lambda url=url: get(url)))
        for name, fn in figures:
            median, worst = timed(fn, args.repeat)
            print(f"{name:<28}{median:>10.3f}{worst:>10.3f}")
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
