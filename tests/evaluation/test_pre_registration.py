"""The report settings in force when a campaign opens are its primary analysis; every other setting is secondary."""

import csv
import io
import itertools

import numpy as np
import pytest
from django.urls import reverse
from scipy.stats import fisher_exact

from annotation.models import Campaign, Label
from evaluation.models import ReportSettings
from evaluation.reports import build_report
from tests.evaluation.builders import build_campaign, make_annotators, set_report_settings
from tests.factories import PASSWORD

VOTES = {
    "regular": [[0, 0, 9, 0], [1, 1, 6, 1], [3, 3, 3, 0], [4, 3, 2, 0], [0, 2, 2, 5], [1, 3, 3, 2]],
    "random_flip": [[3, 3, 1, 2], [2, 4, 3, 0], [5, 1, 1, 2], [1, 1, 1, 6]],
    "low_active": [[6, 1, 1, 1], [4, 4, 1, 0], [3, 1, 0, 5], [3, 2, 1, 3], [5, 3, 1, 0], [2, 2, 1, 4]],
}


def test_it_registers_the_settings_when_a_campaign_opens(admin_client):
    campaign, _ = build_campaign({"regular": [[0, 0, 9, 0]]}, make_annotators(9))
    settings = ReportSettings.objects.get(campaign=campaign)  # created with the campaign, which opens at once
    assert settings.registered_at is not None and settings.tie_policy == "plurality_or_none"

    closed = Campaign.objects.create(name="later", pool=campaign.pool, is_open=False)
    closed.annotators.set(make_annotators(9, "enrolled"))
    assert not ReportSettings.objects.filter(campaign=closed).exists()
    ReportSettings.objects.create(campaign=closed, tie_policy="unique_or_none")
    assert ReportSettings.objects.get(campaign=closed).registered_at is None  # not open: nothing registered yet
    response = admin_client.post(reverse("admin:annotation_campaign_changelist"),
                                 {"action": "open_campaigns", "_selected_action": [closed.pk]})
    assert response.status_code == 302
    registered = ReportSettings.objects.get(campaign=closed)
    assert registered.registered_at is not None and registered.tie_policy == "unique_or_none"


def test_it_freezes_the_registered_settings_once_labels_exist(admin_client):
    campaign, items = build_campaign({"regular": [[0, 0, 0, 0]]}, make_annotators(9))
    settings = ReportSettings.objects.get(campaign=campaign)
    first_stamp = settings.registered_at
    # Before the first label nobody has seen data: a change is allowed and is what gets registered.
    settings.tie_policy = "unique_or_none"
    settings.full_clean()
    settings.save()
    settings.refresh_from_db()
    assert settings.tie_policy == "unique_or_none" and settings.registered_at > first_stamp

    Label.objects.create(campaign=campaign, item=items["regular"][0], annotator=make_annotators(1, "late")[0],
                         value="creative")
    settings.tie_policy = "plurality_or_none"
    with pytest.raises(Exception, match="pre-registered primary analysis"):
        settings.full_clean()
    url = reverse("admin:evaluation_reportsettings_change", args=[settings.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="tie_policy"' not in page and "pre-registered primary analysis" in page  # read-only, with the reason
    admin_client.post(url, {"campaign": campaign.pk, "threshold": 2, "tie_policy": "plurality_or_none",
                            "inconclusive": "abstain", "max_attention_fail_rate": 0.5, "min_attention_checks": 2,
                            "confidence": 0.95})
    settings.refresh_from_db()
    assert (settings.threshold, settings.tie_policy, settings.inconclusive) == (3, "unique_or_none", "label")


def rule_by_hand(votes, policy: str, abstain: bool) -> int | None:
    """The consensus of one image, from the definitions: None for no consensus, 3 for L4."""
    counts = list(votes)
    if abstain:
        counts[3] = 0
    reach = [k for k in range(4) if counts[k] >= 3]
    if not reach:
        return None
    top = [k for k in reach if counts[k] == max(counts[r] for r in reach)]
    if policy == "unique_or_none":
        return reach[0] if len(reach) == 1 else None
    if len(top) == 1:
        return top[0]
    return 3 if policy == "plurality_or_inconclusive" else None


@pytest.fixture
def report(db):
    campaign, _ = build_campaign(VOTES, make_annotators(9), summary={})
    set_report_settings(campaign, tie_policy="plurality_or_inconclusive", inconclusive="abstain")
    campaign.refresh_from_db()
    return build_report(campaign)


def test_it_shows_the_primary_analysis_then_every_other_setting(report):
    rows = report.sensitivity
    assert [(r.tie_policy, r.inconclusive) for r in rows][0] == ("plurality_or_inconclusive", "abstain")
    assert [r.analysis for r in rows] == ["primary"] + ["sensitivity"] * 5
    assert set(itertools.product(["plurality_or_none", "plurality_or_inconclusive", "unique_or_none"],
                                 ["label", "abstain"])) == {(r.tie_policy, r.inconclusive) for r in rows}
    for row in rows:
        per_scheme = {}
        for scheme, votes in VOTES.items():
            labels = [rule_by_hand(v, row.tie_policy, row.inconclusive == "abstain") for v in votes]
            n_cons = sum(label is not None for label in labels)
            l1 = labels.count(0)
            per_scheme[scheme] = (l1, n_cons)
            assert row.schemes[scheme] == (len(votes), n_cons, l1, l1 / n_cons if n_cons else None)
        for test in row.tests:
            (a, n), (b, m) = per_scheme["low_active"], per_scheme[test.baseline]
            assert test.p_value == pytest.approx(fisher_exact([[a, n - a], [b, m - b]]).pvalue)
    # The page's headline figures are the primary row's.
    primary = {r.scheme: r for r in report.schemes}
    assert primary["low_active"].fractions.counts[0] == rows[0].schemes["low_active"][2]
    assert report.tests == rows[0].tests


def test_it_shows_both_on_the_page_and_in_the_summary(client, researcher, report):
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[report.campaign.pk])).content.decode()
    assert page.index("Primary hypothesis") < page.index("Results under the registered rule") < page.index("Sensitivity analysis")
    assert 'class="secondary-tag">secondary<' in page and "Pre-registered" in page
    assert page.count('<tr class="sensitivity">') == 5 and page.count('<tr class="primary">') == 1
    summary = client.get(reverse("evaluation:download", args=[report.campaign.pk, "summary"])).content.decode()
    rows = list(csv.DictReader(io.StringIO(summary)))
    primary = [r for r in rows if r["analysis"] == "primary"]
    secondary = [r for r in rows if r["analysis"] == "sensitivity"]
    assert [r["scheme"] for r in primary] == ["regular", "random_flip", "low_active", "all"]
    assert {(r["tie_policy"], r["inconclusive"]) for r in primary} == {("plurality_or_inconclusive", "abstain")}
    assert primary[0]["registered_at"]
    assert len(secondary) == 5 * 3
    by_setting = {(r["tie_policy"], r["inconclusive"], r["scheme"]): r for r in secondary}
    unique_label = by_setting[("unique_or_none", "label", "low_active")]
    labels = [rule_by_hand(v, "unique_or_none", False) for v in VOTES["low_active"]]
    assert int(unique_label["L1_count"]) == labels.count(0)
    assert int(unique_label["consensus_images"]) == sum(x is not None for x in labels)
    regular = by_setting[("unique_or_none", "label", "regular")]
    assert float(regular["l1_vs_low_active_p_fisher"]) == pytest.approx(
        next(r for r in report.sensitivity if (r.tie_policy, r.inconclusive) == ("unique_or_none", "label")).tests[0].p_value)
    assert np.isfinite(float(regular["l1_share_vs_low_active_p_permutation"]))
