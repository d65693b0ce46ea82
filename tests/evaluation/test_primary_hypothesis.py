"""The report opens with one named primary hypothesis and its one verdict; its family is the registered list."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from scipy.stats import fisher_exact
from statsmodels.stats.multitest import multipletests

from evaluation.models import ReportSettings
from evaluation.reports import build_report
from tests.evaluation.builders import build_campaign, make_annotators, set_report_settings
from tests.factories import PASSWORD

CREATIVE, DULL = [6, 1, 1, 1], [0, 1, 8, 0]
# low_active: 8 of 10 consensus images L1; regular 1 of 10, noisy 2 of 10, random_flip 4 of 10.
VOTES = {
    "regular": [CREATIVE] * 1 + [DULL] * 9,
    "noisy": [CREATIVE] * 2 + [DULL] * 8,
    "random_flip": [CREATIVE] * 4 + [DULL] * 6,
    "low_active": [CREATIVE] * 8 + [DULL] * 2,
}


def p_fisher(a: int, b: int, n: int = 10) -> float:
    return float(fisher_exact([[a, n - a], [b, n - b]]).pvalue)


@pytest.fixture
def campaign(db):
    campaign, _ = build_campaign(VOTES, make_annotators(9), summary={})
    return campaign


def test_it_opens_the_report_with_one_hypothesis_and_its_verdict(client, researcher, campaign):
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    # The first section is the hypothesis, marked confirmatory; every other section is marked secondary or exploratory.
    assert page.index('id="hypothesis"') < page.index('id="primary"') < page.index('id="sensitivity"')
    assert page.count('class="confirmatory-tag"') == 1
    assert "low_active yields more creative (L1) images than every one of regular, noisy, random_flip" in page
    # Beats every baseline: random_flip (8/10 vs 4/10) is not significant at 0.05, so the claim is not supported.
    assert p_fisher(8, 1) < 0.05 and p_fisher(8, 2) < 0.05 and p_fisher(8, 4) > 0.05
    verdict = page[page.index('id="verdict"'):page.index("</p>", page.index('id="verdict"'))]
    assert "Verdict: Not supported." in verdict and "random_flip" in verdict and page.count('id="verdict"') == 1
    report = build_report(campaign)
    assert [(c.baseline, c.p_value, c.passes) for c in report.verdict.comparisons] == [
        ("regular", pytest.approx(p_fisher(8, 1)), True), ("noisy", pytest.approx(p_fisher(8, 2)), True),
        ("random_flip", pytest.approx(p_fisher(8, 4)), False)]


def test_it_supports_beats_every_baseline_only_when_each_comparison_is_significant(campaign):
    set_report_settings(campaign, comparison_schemes="regular, noisy")
    verdict = build_report(campaign).verdict
    # Intersection-union: each comparison at alpha, no correction.
    assert verdict.supported is True and verdict.word == "Supported"
    assert [c.p_adjusted for c in verdict.comparisons] == [c.p_value for c in verdict.comparisons]
    set_report_settings(campaign, direction="less")  # the same data, the other direction: not supported
    assert build_report(campaign).verdict.supported is False


def test_it_fixes_the_family_by_the_registered_list_not_the_pool(campaign):
    set_report_settings(campaign, family="any", comparison_schemes="regular, noisy, random_flip, interpolation")
    report = build_report(campaign)
    # The pool has no interpolation images: the comparison stays in the family (p = 1), so Holm is over 4, not 3.
    raw = [p_fisher(8, 1), p_fisher(8, 2), p_fisher(8, 4), 1.0]
    expected = multipletests(raw, method="holm")[1]
    comparisons = report.verdict.comparisons
    assert [c.baseline for c in comparisons] == ["regular", "noisy", "random_flip", "interpolation"]
    assert [c.p_adjusted for c in comparisons[:3]] == pytest.approx(list(expected[:3]))
    assert comparisons[3].p_value is None and not comparisons[3].passes
    # The secondary table's Holm is over the pool's baselines (3): the registered family is not.
    pool_holm = {t.baseline: t.p_holm for t in report.tests}
    assert pool_holm["regular"] == pytest.approx(multipletests(raw[:3], method="holm")[1][0])
    assert comparisons[0].p_adjusted != pytest.approx(pool_holm["regular"])
    assert report.verdict.supported is True  # beats at least one after Holm
    # Beats every one of the four: interpolation cannot be beaten without images.
    set_report_settings(campaign, family="all")
    assert build_report(campaign).verdict.supported is False


def test_it_decides_on_the_vote_share_with_the_permutation_test(campaign):
    set_report_settings(campaign, endpoint="vote_share", comparison_schemes="regular")
    report = build_report(campaign)
    (c,) = report.verdict.comparisons
    share_test = next(t for t in report.share_tests if t.baseline == "regular")
    assert c.p_value == share_test.p_value and c.target_value == pytest.approx(share_test.mean)
    assert report.verdict.supported is (c.p_value < 0.05)


def test_it_refuses_a_hypothesis_that_names_no_scheme_it_knows(campaign):
    settings = ReportSettings.objects.get(campaign=campaign)
    settings.comparison_schemes = "regular, creative_decoder"
    with pytest.raises(ValidationError, match="creative_decoder"):
        settings.clean_hypothesis()
    settings.comparison_schemes = "low_active, regular"
    with pytest.raises(ValidationError, match="not the target"):
        settings.clean_hypothesis()


def test_summary_csv_carries_the_hypothesis_and_its_verdict(client, researcher, campaign):
    import csv
    import io

    client.login(username=researcher.username, password=PASSWORD)
    text = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"])).content.decode()
    table = list(csv.reader(io.StringIO(text)))
    assert len({len(row) for row in table}) == 1  # every row as wide as the header
    rows = list(csv.DictReader(io.StringIO(text)))
    verdicts = [r for r in rows if r["analysis"] == "hypothesis"]
    assert len(verdicts) == 1
    row = verdicts[0]
    assert row["scheme"] == "all" and row["verdict"] == "Not supported"
    assert row["hypothesis"].startswith("low_active yields more creative (L1) images than every one of regular")
    assert (row["hypothesis_test"], row["hypothesis_family"], row["hypothesis_alpha"]) == (
        "Fisher's exact test, two-sided", "all", "0.05")
    assert row["comparison"] == "regular, noisy, random_flip" and "random_flip" in row["verdict_reason"]
    p = {name: float(value) for name, value in
         (part.split(": ") for part in row["comparison_p_value"].split("; "))}
    assert p == {"regular": pytest.approx(p_fisher(8, 1)), "noisy": pytest.approx(p_fisher(8, 2)),
                 "random_flip": pytest.approx(p_fisher(8, 4))}
    each = {r["comparison"]: r for r in rows if r["analysis"] == "hypothesis_comparison"}
    assert list(each) == ["regular", "noisy", "random_flip"]
    assert float(each["random_flip"]["comparison_p_value"]) == pytest.approx(p_fisher(8, 4))
    assert (each["regular"]["comparison_passes"], each["random_flip"]["comparison_passes"]) == ("true", "false")
    assert float(each["regular"]["comparison_target_value"]) == 0.8
    assert float(each["regular"]["comparison_value"]) == 0.1
    # Beats at least one (Holm over the registered three): supported, with the adjusted p-values in the file.
    set_report_settings(campaign, family="any")
    text = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"])).content.decode()
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["analysis"] == "hypothesis")
    holm = multipletests([p_fisher(8, 1), p_fisher(8, 2), p_fisher(8, 4)], method="holm")[1]
    adjusted = [float(part.split(": ")[1]) for part in row["comparison_p_adjusted"].split("; ")]
    assert (row["verdict"], row["hypothesis_family"]) == ("Supported", "any")
    assert adjusted == [pytest.approx(float(h)) for h in holm]
