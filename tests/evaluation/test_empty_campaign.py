"""A campaign with no labels yet, or labels without timings, still gives a report and CSVs."""

import csv
import io

from django.urls import reverse

from evaluation.reports import build_report
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD


def test_it_reports_a_campaign_without_labels(client, researcher):
    campaign, _ = build_campaign({"regular": [[0, 0, 0, 0]] * 3, "low_active": [[0, 0, 0, 0]] * 2}, [], summary={})
    report = build_report(campaign)
    rows = {r.scheme: r for r in report.schemes}
    assert rows["regular"].n_unlabelled == 3 and rows["low_active"].n_unlabelled == 2
    assert rows["regular"].fractions.n_images == 0
    assert rows["regular"].dr_amortised is None
    assert report.overall.fleiss_kappa is None and report.overall.krippendorff_alpha is None
    assert report.tests[0].p_value is None
    assert report.annotators == [] and report.images == [] and report.labels == []

    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk]))
    assert page.status_code == 200
    assert b"5 pool images have no label yet" in page.content
    summary = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"])).content.decode()
    rows = [r for r in csv.DictReader(io.StringIO(summary)) if r["analysis"] == "primary"]
    assert [r["scheme"] for r in rows] == ["regular", "low_active", "all"]
    assert rows[0]["L1_fraction"] == "" and rows[0]["unlabelled"] == "3"


def test_it_reports_labels_without_timings(db):
    campaign, _ = build_campaign({"low_active": [[9, 0, 0, 0]]}, make_annotators(9), times_ms=None)
    report = build_report(campaign)
    assert all(a.median_time_ms is None for a in report.annotators)
    assert all(label.time_spent_ms is None for label in report.labels)
