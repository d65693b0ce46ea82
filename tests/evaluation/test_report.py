"""A campaign's report from the database: every number from hand-built votes."""

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation.models import Label
from evaluation.reports import build_report, pseudonym
from evaluation.stats import agreement, chance_reach_probability
from tests.evaluation.builders import DR_SUMMARY, build_campaign, make_annotators, set_report_settings

VOTES = {
    "regular": [[9, 0, 0, 0], [0, 0, 9, 0], [3, 3, 3, 0], [2, 1, 1, 0]],
    "noisy": [[2, 2, 2, 3]],
    "random_flip": [[3, 3, 3, 0]],
    "low_active": [[5, 4, 0, 0], [6, 0, 3, 0], [0, 9, 0, 0]],
}


@pytest.fixture
def campaign(db):
    raters = make_annotators(10)
    ok = ["not_novel"] * 9
    campaign, items = build_campaign(VOTES, raters, attention=[[*ok, "creative"], [*ok, "novel"]])
    # The 10th annotator fails both attention checks; their label would give the 4th regular image an L1 consensus.
    Label.objects.create(campaign=campaign, item=items["regular"][3], annotator=raters[9], value="creative", time_spent_ms=50)
    campaign.raters = raters
    return campaign


def test_it_computes_the_fractions_per_scheme(campaign):
    report = build_report(campaign)
    rows = {r.scheme: r for r in report.schemes}
    assert [r.scheme for r in report.schemes] == ["regular", "noisy", "random_flip", "low_active"]

    regular = rows["regular"].fractions
    assert (regular.n_images, regular.n_consensus, regular.n_no_consensus) == (4, 2, 2)
    assert (regular.n_several, regular.n_incomplete) == (1, 1)
    assert regular.counts == (1, 0, 1, 0)
    assert regular.fractions == pytest.approx((0.5, 0, 0.5, 0))

    low = rows["low_active"].fractions
    assert low.counts == (2, 1, 0, 0)
    assert low.fractions == pytest.approx((2 / 3, 1 / 3, 0, 0))
    assert low.n_several == 2 and low.n_no_consensus == 0  # 5/4 and 6/3: two labels reach 3, the larger wins

    assert rows["noisy"].fractions.counts == (0, 0, 0, 1)

    # A scheme whose only image is a 3/3/3 tie has no consensus at all.
    flip = rows["random_flip"].fractions
    assert (flip.n_images, flip.n_consensus, flip.n_no_consensus) == (1, 0, 1)
    assert flip.fractions == (None, None, None, None)

    assert report.overall.fractions.n_images == 9
    assert report.overall.fractions.counts == (3, 1, 1, 1)


def test_it_takes_dr_from_the_job_summary(campaign):
    rows = {r.scheme: r for r in build_report(campaign).schemes}
    for scheme, dr in DR_SUMMARY.items():
        assert rows[scheme].dr_amortised == dr["dr_amortised_mean"]
        assert rows[scheme].dr_optimised == dr["dr_optimised_mean"]
        assert rows[scheme].dr_n == 10000


def test_it_excludes_annotators_who_fail_attention_checks(campaign):
    report = build_report(campaign)
    bad = pseudonym(campaign.pk, campaign.raters[9].pk)
    assert report.excluded == [bad]
    row = next(a for a in report.annotators if a.pseudonym == bad)
    assert (row.attention_seen, row.attention_failed, row.excluded) == (2, 2, True)
    assert {r.scheme: r for r in report.schemes}["regular"].fractions.counts == (1, 0, 1, 0)

    # Relax the rule: now their vote counts and the 4th regular image reaches 3 x L1.
    set_report_settings(campaign, max_attention_fail_rate=1.0)
    relaxed = build_report(campaign)
    assert relaxed.excluded == []
    regular = {r.scheme: r for r in relaxed.schemes}["regular"].fractions
    assert regular.counts == (2, 0, 1, 0)
    assert regular.n_incomplete == 1  # 5 votes of 9


def test_it_applies_the_stored_tie_policy(campaign):
    set_report_settings(campaign, tie_policy="plurality_or_inconclusive")
    report = build_report(campaign)
    rows = {r.scheme: r for r in report.schemes}
    assert rows["regular"].fractions.counts == (1, 0, 1, 1)  # the 3/3/3 tie is now L4
    assert rows["random_flip"].fractions.fractions == pytest.approx((0, 0, 0, 1))
    assert ("tie policy", f"plurality_or_inconclusive: {report.settings.tie_policy_text}") in report.parameters()


def test_it_reports_annotators_by_pseudonym(campaign):
    report = build_report(campaign)
    first = next(a for a in report.annotators if a.pseudonym == pseudonym(campaign.pk, campaign.raters[0].pk))
    # rater0 voted on all 9 images (L1 everywhere but the two L3/L2-only rows); see VOTES.
    assert first.n_labels == 9
    assert (first.n_agree, first.n_on_consensus) == (5, 6)
    # Without their own vote: 5/4 -> 4/4 and 3/3/3 -> 2/3/3 lose their consensus; 2/2/2/3 -> 1/2/2/3 is still L4.
    assert (first.n_agree_others, first.n_on_others_consensus) == (4, 5)
    assert first.median_time_ms == 1000
    assert first.attention_seen == 2 and first.attention_failed == 0 and not first.excluded
    assert all(a.pseudonym.startswith("A-") for a in report.annotators)
    assert not any(r.username in a.pseudonym for a in report.annotators for r in campaign.raters)
    assert pseudonym(campaign.pk, campaign.raters[0].pk) != pseudonym(campaign.pk + 1, campaign.raters[0].pk)


def test_it_computes_agreement_against_the_references(campaign):
    report = build_report(campaign)
    regular = {r.scheme: r for r in report.schemes}["regular"]
    full = np.array([[9, 0, 0, 0], [0, 0, 9, 0], [3, 3, 3, 0]])
    # Three images with all their votes: under the minimum, kappa is left out and says why.
    assert regular.fleiss_kappa is None
    assert (regular.agreement.kappa_images, regular.agreement.kappa_votes) == (3, 27)
    assert "3 images with all 9 votes" in regular.agreement.kappa_note
    assert agreement(np.vstack([full] * 4), 9).kappa == pytest.approx(sm_fleiss_kappa(np.vstack([full] * 4)))
    table = np.array(VOTES["regular"])
    assert regular.krippendorff_alpha == pytest.approx(krippendorff.alpha(value_counts=table, level_of_measurement="nominal"))


def test_it_states_the_rule_and_the_chance_baseline(campaign):
    report = build_report(campaign)
    params = dict(report.parameters())
    assert "at least 3" in params["consensus rule"]
    assert params["annotators per image"] == "9"
    assert "(seed 11)" in params["generation job"] and "tiny" in params["model"] and "(seed 5)" in params["pool"]
    # Averaged over the images' votes as cast (an image with 5 votes has a lower chance of 3 for a label).
    cast = [sum(row) for rows in VOTES.values() for row in rows]
    expected = np.mean([chance_reach_probability(v, 3) for v in cast])
    assert report.chance_reach == pytest.approx(expected)
    assert [t.baseline for t in report.tests] == ["regular", "noisy", "random_flip"]
    regular_test = report.tests[0]
    assert (regular_test.count, regular_test.nobs, regular_test.baseline_count, regular_test.baseline_nobs) == (2, 3, 1, 2)


def test_it_can_treat_inconclusive_votes_as_abstentions(db):
    votes = {"regular": [[3, 1, 0, 5], [2, 2, 0, 5], [0, 0, 0, 9]], "low_active": [[9, 0, 0, 0]]}
    campaign, _ = build_campaign(votes, make_annotators(9))
    as_label = {r.scheme: r for r in build_report(campaign).schemes}["regular"].fractions
    assert as_label.counts == (0, 0, 0, 3)

    set_report_settings(campaign, inconclusive="abstain")
    report = build_report(campaign)
    abstain = {r.scheme: r for r in report.schemes}["regular"].fractions
    assert abstain.counts == (1, 0, 0, 0)
    # 3/1/0 -> L1; 2/2/0 -> nothing reaches 3; all nine abstained -> an image without a consensus. Every image had
    # its 9 votes cast: none is incomplete (an abstention is a vote cast).
    assert (abstain.n_images, abstain.n_consensus, abstain.n_no_consensus, abstain.n_incomplete) == (3, 1, 2, 0)
    assert {r.scheme: r for r in report.schemes}["regular"].n_unlabelled == 0
    assert dict(report.parameters())["inconclusive"].startswith("abstain:")
    # The chance baseline follows the setting: every image has 9 votes cast, L4 is left out before the rule.
    assert [round(p, 4) for p in report.chance.labels] == [0.2458, 0.2458, 0.2458, 0.0]
    assert round(report.chance.none, 4) == 0.2625 and report.chance.reach[3] == 0.0
    # Kappa needs all 9 votes on an image: under abstain no regular image has them, and the page says so.
    agreement = {r.scheme: r for r in report.schemes}["regular"].agreement
    assert agreement.kappa is None and agreement.kappa_images == 0 and agreement.headline == "alpha"
    assert (agreement.alpha_images, agreement.alpha_votes) == (2, 8)


def test_it_counts_ties_for_the_most_apart_from_several_labels_reaching_the_threshold(db):
    votes = {"regular": [[4, 3, 2, 0], [5, 3, 1, 0], [3, 3, 3, 0], [4, 4, 1, 0], [3, 3, 2, 1], [9, 0, 0, 0]]}
    campaign, _ = build_campaign(votes, make_annotators(9))
    f = build_report(campaign).schemes[0].fractions
    assert (f.n_several, f.n_tied_top) == (5, 3)  # 4/3/2 and 5/3/1 are resolved by plurality: not tied for the most
    assert f.n_no_consensus == 3


def test_it_fits_dawid_skene_per_scheme_over_the_consensus_images(db):
    votes = {"regular": [[0, 0, 9, 0], [1, 0, 8, 0], [3, 3, 3, 0]], "low_active": [[9, 0, 0, 0], [7, 2, 0, 0]]}
    campaign, _ = build_campaign(votes, make_annotators(9), summary={})
    report = build_report(campaign)
    rows = {r.scheme: r for r in report.schemes}
    regular = rows["regular"]
    # The fractions are over the two regular images with a consensus (the 3/3/3 image has none) ...
    assert sum(regular.ds_counts) == regular.fractions.n_consensus == 2
    assert regular.ds_fractions[2] == 1.0
    # ... and each scheme has its own fit, with its iterations and convergence.
    assert regular.ds_iterations >= 1 and regular.ds_converged is True
    assert sum(rows["low_active"].ds_all_fractions) == pytest.approx(1.0)  # over both labelled low-active images
    assert "regular" in dict(report.parameters())["Dawid-Skene"]


def test_it_names_the_kind_of_attention_checks(db):
    campaign, _ = build_campaign({"regular": [[0, 0, 9, 0]]}, make_annotators(9))
    assert campaign.pool.get_attention_kind_display() in dict(build_report(campaign).parameters())["attention checks"]


def test_it_ignores_summary_entries_that_are_not_schemes(db):
    summary = {"regular": {"n": 5, "dr_amortised_mean": 1.5, "dr_optimised_mean": None}, "seconds": 12.5, "totals": {"n": 5}}
    campaign, _ = build_campaign({"low_active": [[9, 0, 0, 0]]}, make_annotators(9), summary=summary)
    rows = {r.scheme: r for r in build_report(campaign).schemes}
    assert list(rows) == ["regular", "low_active"]
    assert rows["regular"].fractions.n_images == 0 and rows["regular"].dr_amortised == 1.5
    assert rows["low_active"].dr_amortised is None


def test_it_counts_abstentions_as_votes_cast_for_incomplete(db):
    # With inconclusive as an abstention the L4 votes leave the rule, but they were cast: 9 of 9 is complete.
    campaign, _ = build_campaign({"low_active": [[3, 3, 0, 3], [3, 3, 0, 2], [9, 0, 0, 0]]}, make_annotators(9))
    set_report_settings(campaign, inconclusive="abstain")
    row = next(r for r in build_report(campaign).schemes if r.scheme == "low_active")
    assert row.fractions.n_incomplete == 1  # only the image with 8 votes cast
    assert row.agreement.alpha_votes == 6 + 6 + 9  # the rule and the agreement still leave the L4 votes out
