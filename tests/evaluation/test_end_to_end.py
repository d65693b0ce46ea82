"""From a generation job to a report: 9 simulated annotators label a pool, a researcher downloads everything.

The pool comes from a real tiny generation job when the generation services are installed, and
from rows built directly otherwise. The annotators label through the annotation API (prime, ask for
the next image, submit), as a browser would.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.conf import settings
from django.test import Client
from django.urls import NoReverseMatch, reverse

from annotation.models import Campaign, Label
from evaluation.reports import build_report
from generation.models import GenerationJob, PoolItem, Sample, SamplePool, TrainedModel
from tests.evaluation.builders import LABELS
from tests.factories import PASSWORD, make_annotator

SCHEMES = ("regular", "noisy", "random_flip", "low_active")
PER_SCHEME = 20  # samples per scheme in the job
POOL_PER_SCHEME = 10  # of which in the pool (keeps the 9 x 44 API round trips short)
# The simulated annotators' tastes: low-active images look creative more often.
TASTE = {
    "regular": [0.05, 0.10, 0.80, 0.05],
    "noisy": [0.05, 0.15, 0.75, 0.05],
    "random_flip": [0.20, 0.30, 0.40, 0.10],
    "low_active": [0.60, 0.20, 0.10, 0.10],
}


def pool_from_services() -> SamplePool | None:
    try:
        from generation import services
    except ImportError:
        return None
    if not all(hasattr(services, name) for name in ("train_model", "run_job", "build_pool")):
        return None
    import creative_core as cc

    cc.fetch_data(root=settings.DATA_ROOT)
    model = TrainedModel.objects.create(name="tiny", dataset="mnist", epochs=1, train_limit=1000, seed=0)
    services.train_model(model.pk)
    fields = {"samples_per_scheme": PER_SCHEME, "seed": 0, "schemes": {s: {} for s in SCHEMES}}
    if any(f.name == "optimise_steps" for f in GenerationJob._meta.get_fields()):
        fields["optimise_steps"] = 20  # the optimised D_r only needs to exist here, not to be tight
    job = GenerationJob.objects.create(trained_model=model, **fields)
    services.run_job(job.pk)
    job = GenerationJob.objects.get(pk=job.pk)
    return services.build_pool(job, per_scheme=POOL_PER_SCHEME, seed=0, attention_checks=4, accept_spottable_checks=True)


def pool_from_rows() -> SamplePool:
    model = TrainedModel.objects.create(name="tiny", dataset="mnist", epochs=1, train_limit=1000, status="succeeded")
    summary = {s: {"n": PER_SCHEME, "dr_amortised_mean": 1.0 + i, "dr_optimised_mean": 0.1 * i} for i, s in enumerate(SCHEMES)}
    job = GenerationJob.objects.create(trained_model=model, samples_per_scheme=PER_SCHEME, status="succeeded", summary=summary)
    pool = SamplePool.objects.create(job=job, name="pool", per_scheme=POOL_PER_SCHEME)
    order = iter(np.random.default_rng(0).permutation(POOL_PER_SCHEME * len(SCHEMES) + 4).tolist())
    for scheme in SCHEMES:
        for index in range(POOL_PER_SCHEME):
            sample = Sample.objects.create(job=job, scheme=scheme, index=index, dr_amortised=1.0)
            PoolItem.objects.create(pool=pool, position=next(order), sample=sample)
    for _ in range(4):
        PoolItem.objects.create(pool=pool, position=next(order))
    return pool


def choose(item: PoolItem, rng: np.random.Generator) -> str:
    # The simulation peeks at the hidden scheme to have a taste; the annotator's client never sees it.
    probs = TASTE[item.sample.scheme] if item.sample_id else [0.0, 0.05, 0.95, 0.0]
    return LABELS[rng.choice(4, p=probs)]


def label_through_api(campaign: Campaign, annotator, rng: np.random.Generator) -> int:
    """One annotator's session: prime, then next image / submit until the API says done."""
    api = Client()
    api.force_login(annotator)
    assert api.post(reverse("annotation_api:primed", args=[campaign.pk])).status_code == 200
    submitted = 0
    while True:
        answer = api.post(reverse("annotation_api:next", args=[campaign.pk])).json()
        if answer["done"]:
            return submitted
        public_id = answer["item"]["id"]
        assert set(answer["item"]) == {"id", "image", "data_url"}  # nothing about the scheme
        assert answer["item"]["data_url"].startswith("data:image/png;base64,")
        item = PoolItem.objects.select_related("sample").get(public_id=public_id)
        body = {"item": public_id, "value": choose(item, rng), "time_spent_ms": int(rng.integers(500, 5000))}
        response = api.post(reverse("annotation_api:submit", args=[campaign.pk]), body, content_type="application/json")
        assert response.status_code == 201, response.content
        submitted += 1


def label_through_orm(campaign: Campaign, annotators, rng: np.random.Generator) -> int:
    rows = [
        Label(campaign=campaign, item=item, annotator=user, value=choose(item, rng), time_spent_ms=int(rng.integers(500, 5000)))
        for item in PoolItem.objects.filter(pool=campaign.pool).select_related("sample").order_by("position")
        for user in annotators
    ]
    Label.objects.bulk_create(rows)
    return len(rows)


def label(campaign: Campaign, annotators, rng: np.random.Generator) -> int:
    try:
        reverse("annotation_api:next", args=[campaign.pk])
    except NoReverseMatch:  # an installation without the annotation API
        return label_through_orm(campaign, annotators, rng)
    return sum(label_through_api(campaign, user, rng) for user in annotators)


def read_csv(client, campaign: Campaign, kind: str) -> list[dict]:
    response = client.get(reverse("evaluation:download", args=[campaign.pk, kind]))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.django_db
def test_it_reports_a_labelled_campaign(client, researcher):
    pool = pool_from_services() or pool_from_rows()
    annotators = [make_annotator(f"sim{i}") for i in range(9)]
    campaign = Campaign.objects.create(name="end to end", pool=pool, annotators_per_image=9)
    campaign.annotators.set(annotators)
    n_labels = label(campaign, annotators, np.random.default_rng(1))
    n_images = PoolItem.objects.filter(pool=pool, sample__isnull=False).count()
    assert n_images == POOL_PER_SCHEME * len(SCHEMES)
    assert n_labels == 9 * PoolItem.objects.filter(pool=pool).count()

    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk]))
    assert page.status_code == 200
    assert b"<svg" in page.content

    report = build_report(campaign)
    summary = {row["scheme"]: row for row in read_csv(client, campaign, "summary") if row["analysis"] == "primary"}
    assert set(summary) == {*SCHEMES, "all"}
    job = GenerationJob.objects.get(pk=pool.job_id)
    for scheme in SCHEMES:
        row = summary[scheme]
        assert int(row["images"]) == POOL_PER_SCHEME
        assert int(row["consensus_images"]) + int(row["no_consensus"]) == POOL_PER_SCHEME
        assert float(row["dr_amortised_mean"]) == pytest.approx(job.summary[scheme]["dr_amortised_mean"])
    # With these tastes low-active wins L1 by far, and the test says so.
    assert float(summary["low_active"]["L1_fraction"]) > float(summary["regular"]["L1_fraction"])
    assert float(summary["regular"]["l1_vs_low_active_p_fisher"]) < 0.01
    assert report.excluded == []

    consensus = read_csv(client, campaign, "consensus")
    assert len(consensus) == n_images
    assert all(int(r["votes"]) == 9 for r in consensus)
    labels = read_csv(client, campaign, "labels")
    assert len(labels) == n_labels
    assert len({r["annotator"] for r in labels}) == 9

    # The annotators who made it cannot open it.
    annotator_client = Client()
    annotator_client.force_login(annotators[0])
    assert annotator_client.get(reverse("evaluation:report", args=[campaign.pk])).status_code == 404
    assert annotator_client.get(reverse("evaluation:download", args=[campaign.pk, "labels"])).status_code == 404
