"""The report's intervals cross images and annotators: centred at the estimate, wider when the same annotators
decide many images, and the within-scheme AUC beside the pooled one."""

import csv
import io

import numpy as np
import pytest
from django.urls import reverse

from annotation.models import Label
from evaluation.reports import build_report
from generation.models import Sample
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD


def summary(client, researcher, campaign) -> dict[str, dict]:
    client.login(username=researcher.username, password=PASSWORD)
    response = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"]))
    return {r["scheme"]: r for r in csv.DictReader(io.StringIO(response.content.decode())) if r["analysis"] == "primary"}


def test_it_keeps_the_no_consensus_interval_around_its_estimate(client, researcher, db):
    # Three of four images split 3/3/3: no consensus. Duplicating an annotator (the pigeonhole bootstrap) breaks
    # that tie in almost every resample, so a resampled share sits far below the one observed.
    rows = [[3, 3, 3, 0], [3, 3, 3, 0], [3, 3, 3, 0], [9, 0, 0, 0]] * 2
    campaign, _ = build_campaign({"regular": rows, "low_active": rows}, make_annotators(9))
    found = summary(client, researcher, campaign)

    def centred(low: float, high: float, estimate: float) -> bool:
        """The estimate inside, and neither side over three times the other (Wilson's own skew near 0.75 is less)."""
        below, above = estimate - low, high - estimate
        return below >= 0 and above >= 0 and max(below, above) < 3 * min(below, above)

    for scheme in ("regular", "low_active", "all"):
        row = found[scheme]
        assert float(row["no_consensus_share"]) == 0.75
        assert centred(float(row["no_consensus_share_low"]), float(row["no_consensus_share_high"]), 0.75)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    regular = page.split('id="summary"', 1)[1].split("<td>regular</td>", 1)[1].split("</tr>", 1)[0]
    low, high = regular.split("6 (75.0%)<span class=\"ci\">[", 1)[1].split("]", 1)[0].split(", ")
    assert centred(float(low), float(high), 75.0)


def rotate_annotators(campaign, items, raters, step: int) -> None:
    """Give image t's j-th vote to rater (j + step * t) mod 9 instead of rater j: the same vote tables, with the
    L1 votes spread over the annotators instead of always coming from the first ones."""
    for t, item in enumerate(items):
        given = list(Label.objects.filter(campaign=campaign, item=item).order_by("annotator__username")
                     .values_list("annotator__username", "value"))
        order = sorted(given, key=lambda g: int(g[0].removeprefix("rater")))
        Label.objects.filter(campaign=campaign, item=item).delete()
        Label.objects.bulk_create(Label(campaign=campaign, item=item, annotator=raters[(j + step * t) % 9], value=value,
                                        time_spent_ms=1000) for j, (_, value) in enumerate(order))


def test_it_widens_the_interval_when_the_same_annotators_decide_the_images(client, researcher, db):
    # Half the images 5 L1 / 4 L3, half 4 L1 / 5 L3: who gives the L1 votes decides the consensus.
    rows = [[5, 0, 4, 0], [4, 0, 5, 0]] * 10
    raters = make_annotators(9)
    leaning, _ = build_campaign({"low_active": rows, "regular": rows}, raters)  # raters 0-4 give every L1
    spread, items = build_campaign({"low_active": rows, "regular": rows}, raters)
    for scheme in ("low_active", "regular"):
        rotate_annotators(spread, items[scheme], raters, 4)
    assert [r.votes for r in build_report(spread).images] == [r.votes for r in build_report(leaning).images]
    a, b = summary(client, researcher, leaning), summary(client, researcher, spread)
    for scheme in ("low_active", "regular"):
        assert a[scheme]["L1_fraction"] == b[scheme]["L1_fraction"] == "0.5"
        width = {name: float(r[scheme]["L1_high"]) - float(r[scheme]["L1_low"]) for name, r in (("a", a), ("b", b))}
        assert width["a"] > 1.5 * width["b"]
        # Wilson ignores annotators: the same for both, and named so.
        assert a[scheme]["L1_wilson_low"] == b[scheme]["L1_wilson_low"]
        assert float(b[scheme]["L1_low"]) <= 0.5 <= float(b[scheme]["L1_high"])


def test_it_adds_the_covariance_of_images_sharing_an_annotator():
    from evaluation import intervals as iv

    # Two images, annotator 0 on both, annotators 1-2 on one each; votes [L1, L1, L3] and [L1, L3, L3]: threshold 2.
    items = np.array([0, 0, 0, 1, 1, 1])
    annotators = np.array([0, 1, 2, 0, 3, 4])
    labels = np.array([0, 0, 2, 0, 2, 2])
    votes = iv.crossed_votes(items, annotators, labels, 2, 2, "plurality_or_none")
    assert votes.state.tolist() == [0, 2]
    ratio = iv.fraction(np.ones(2, dtype=bool), 0)  # L1 share: 1 / 2
    g = ratio.contribution(votes.state)[..., None]
    image, annotator = iv.crossed_variance(votes, g)
    # Image part: z = (y - R c) / D = +-1/4, times n / (n - 1).
    assert image[0] == pytest.approx(2 * (1 / 4) ** 2 * 2)
    # By hand: d = contribution as given - its mean with the vote replaced by one of the image's other votes, then
    # centred over the image's votes and scaled by sqrt(3 / 2). Image 0 (L1 L1 L3): an L1 vote replaced by the
    # other L1 changes nothing, by the L3 loses the L1 consensus: d = 1/4 - (1/4 - 1/4) / 2 = 1/4; its L3 vote can only
    # be replaced by an L1: d = 0. Image 1 (L1 L3 L3): the L1 vote replaced by an L3 changes nothing (d = 0); an L3
    # replaced by the L1 half the time gives it the L1 consensus: d = -1/4 - 0 = -1/4.
    d0, d1 = np.array([0.25, 0.25, 0.0]), np.array([0.0, -0.25, -0.25])
    d0, d1 = ((d - d.mean()) * np.sqrt(1.5) for d in (d0, d1))
    total = np.zeros(5)
    np.add.at(total, annotators, np.r_[d0, d1])
    assert annotator[0] == pytest.approx((total**2).sum() - (np.r_[d0, d1] ** 2).sum())


def test_it_gives_the_auc_within_schemes_beside_the_pooled_one(client, researcher, db):
    # Low-active has higher D_r and more creative images, but inside each scheme the creative images score low:
    # pooled, D_r looks like it tracks creativity; within schemes it points the other way.
    l1, l3 = [9, 0, 0, 0], [0, 0, 9, 0]
    votes = {"regular": [l3, l1, l3, l3, l3], "low_active": [l1, l1, l1, l3, l1]}
    dr = {"regular": [1.0, 1.1, 1.2, 1.3, 1.4], "low_active": [5.0, 5.1, 5.2, 5.3, 5.4]}
    campaign, items = build_campaign(votes, make_annotators(9))
    for scheme, scheme_items in items.items():
        for item, value in zip(scheme_items, dr[scheme], strict=True):
            Sample.objects.filter(pk=item.sample_id).update(dr_amortised=value)

    def mann_whitney(pairs):
        return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)

    creative = {s: [d for d, v in zip(dr[s], votes[s], strict=True) if v == l1] for s in votes}
    other = {s: [d for d, v in zip(dr[s], votes[s], strict=True) if v != l1] for s in votes}
    within = mann_whitney([(p, n) for s in votes for p in creative[s] for n in other[s]])
    pooled = mann_whitney([(p, n) for s in votes for p in creative[s] for t in votes for n in other[t]])
    assert (within, pooled) == (0.25, 0.72)
    m = next(m for m in build_report(campaign).metric_aucs if (m.metric, m.target) == ("dr_amortised", "creative"))
    assert (m.auc, m.within_auc) == (pytest.approx(pooled), pytest.approx(within))
    assert m.within_interval.low <= within <= m.within_interval.high < pooled
    assert (m.within_n_images, m.within_n_positive) == (10, 5)
    client.login(username=researcher.username, password=PASSWORD)
    response = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"]))
    rows = [r for r in csv.DictReader(io.StringIO(response.content.decode())) if r["analysis"] == "surrogate"]
    row = next(r for r in rows if (r["metric"], r["target"]) == ("dr_amortised", "creative"))
    assert float(row["within_auc"]) == pytest.approx(within)
    assert float(row["within_auc_low"]) == m.within_interval.low
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    table = page.split('id="metric-auc"', 1)[1].split("</table>", 1)[0]
    assert "within scheme</span> 0.250<span class=\"ci\">[" in table


def test_it_keeps_a_negative_annotator_part_and_pays_for_its_noise_with_t():
    from scipy import stats as sps

    from evaluation import intervals as iv

    # Annotators who do not lean: the annotator part of the L1-share difference is noise around 0. Where it comes
    # out negative it is kept (not truncated at 0) and the interval uses t at V^2 / var(A) degrees of freedom.
    for seed in range(50):
        rng = np.random.default_rng(seed)
        n, raters = 60, 12
        items = np.repeat(np.arange(n), 9)
        annotators = np.concatenate([rng.choice(raters, 9, replace=False) for _ in range(n)])
        labels = rng.choice(4, size=len(items), p=[0.35, 0.2, 0.35, 0.1])
        votes = iv.crossed_votes(items, annotators, labels, n, 3, "plurality_or_none")
        strata = np.repeat([0, 1], n // 2)
        groups = {"low_active": strata == 0, "regular": strata == 1}
        a, b = iv.fraction(groups["low_active"], 0), iv.fraction(groups["regular"], 0)
        g = (a.contribution(votes.state) - b.contribution(votes.state))[..., None]
        image, annotator, spread = iv.crossed_variance_parts(votes, g, strata)
        if -image[0] < annotator[0] < 0:
            break
    else:
        pytest.fail("no draw with a negative annotator part")
    found = iv.campaign_intervals(votes, groups, target="low_active", baselines=("regular",), confidence=0.95,
                                  scores={}, auc_targets={}, strata=strata)
    interval = found.differences["regular"]
    variance = image[0] + annotator[0]
    df = variance**2 / spread[0]
    estimate = a.value(votes.state) - b.value(votes.state)
    half = sps.t.ppf(0.975, df) * np.sqrt(variance)
    assert (interval.low, interval.high) == (pytest.approx(estimate - half), pytest.approx(estimate + half))
    # Truncated at 0 it would have been the image part alone at the normal quantile.
    assert half != pytest.approx(sps.norm.ppf(0.975) * np.sqrt(image[0]), rel=1e-3)
    assert iv.satterthwaite_df(variance, 0.0) == np.inf and iv.critical_value(0.95) == sps.norm.ppf(0.975)
