"""From a real job to the report: the surrogates a job stored per sample are read against the human consensus."""

from __future__ import annotations

import numpy as np
import pytest

from annotation import services as annotation_services
from annotation.models import Campaign
from evaluation.csv_export import consensus_rows
from evaluation.reports import METRICS, build_report
from generation.models import SURROGATE_FIELDS, Sample
from tests.factories import make_annotator
from tests.researcher.conftest import build_pool, run_job

pytestmark = pytest.mark.django_db


def test_every_stored_surrogate_gets_an_auc_and_a_consensus_column(ready_model):
    pool = build_pool(run_job(ready_model, n=12), per_scheme=6, attention_checks=0)
    campaign = Campaign.objects.create(name="Surrogates", pool=pool, annotators_per_image=3, priming_count=4)
    raters = [make_annotator(f"s{i}") for i in range(3)]
    campaign.annotators.add(*raters)
    annotation_services.ensure_slots(campaign)
    for user in raters:  # people call an image creative when it is far from every training image
        annotation_services.mark_primed(campaign, user)
        while (item := annotation_services.next_item(campaign, user)) is not None:
            far = item.sample.nn_pixels > np.median([s.nn_pixels for s in Sample.objects.filter(job=pool.job)])
            annotation_services.submit_label(campaign, user, item.public_id,
                                             "creative" if far else "not_novel", 900)
    report = build_report(campaign)
    shown = {name for name, _ in report.stored_metrics}
    assert set(SURROGATE_FIELDS) <= shown  # a MNIST model's classifier gives every one
    aucs = {(m.metric, m.target): m for m in report.metric_aucs}
    assert aucs[("nn_pixels", "creative")].auc == pytest.approx(1.0)  # the rule the raters followed
    assert aucs[("nn_pixels", "creative")].n_images == 24
    header, *rows = consensus_rows(report)
    for name, _ in METRICS:
        assert name in header
    col = header.index("entropy")
    assert all(isinstance(row[col], float) for row in rows)
