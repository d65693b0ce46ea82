"""Per-image surrogate metrics against the human consensus (AUC), their CSV columns, and the report's gallery."""

import csv
import io
import itertools
import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from evaluation import stats
from evaluation.csv_export import unquote
from evaluation.reports import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, GALLERY_SIZE, METRICS, build_report
from generation.models import Sample
from tests.evaluation.builders import build_campaign, make_annotators
from tests.evaluation.by_hand import resampled_consensus
from tests.factories import PASSWORD


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (28, 28), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def pairwise_auc(scores, positive) -> float:
    """AUC by counting every (positive, negative) pair by hand: 1 when the positive scores higher, 1/2 on a tie."""
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize(
    ("scores", "positive", "expected"),
    [
        ([5, 4, 1, 0], [1, 1, 0, 0], 1.0),  # perfect separation
        ([0, 1, 4, 5], [1, 1, 0, 0], 0.0),  # reversed
        ([2, 2, 2, 2], [1, 0, 1, 0], 0.5),  # all tied
        ([3, 1, 2, 0], [1, 1, 0, 0], 0.75),  # by hand: 3>2, 3>0, 1<2, 1>0 -> 3 of 4 pairs
        ([2, 2, 1], [1, 0, 0], 0.75),  # by hand: a tie (1/2) and a win (1) over 2 pairs
    ],
)
def test_auc_on_hand_made_tables(scores, positive, expected):
    assert stats.auc(scores, np.array(positive, dtype=bool)) == pytest.approx(expected)


def test_auc_matches_counting_pairs():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, size=40).astype(float)  # many ties
    positive = rng.random(40) < 0.3
    assert stats.auc(scores, positive) == pytest.approx(pairwise_auc(scores, positive))


def test_auc_needs_both_classes():
    assert stats.auc([1, 2], [True, True]) is None
    assert stats.auc([1, 2], [False, False]) is None


# --- AUC intervals from the two-way bootstrap (annotators and images) --------------------------------------------

RULE = dict(raters=9, threshold=3, tie_policy="plurality_or_none")
TARGETS = {"creative": (0,), "novel": (0, 1)}


def votes_of(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vote rows (L1..L4 counts per image) as raw labels, annotator j giving the j-th vote in label order."""
    items, annotators, labels = [], [], []
    for i, row in enumerate(rows):
        given = [k for k, count in enumerate(row) for _ in range(count)]
        items += [i] * len(given)
        annotators += list(range(len(given)))
        labels += given
    return np.array(items), np.array(annotators), np.array(labels)


def two_way_aucs(items, annotators, labels, n_items, n_annot, scores, **kwargs) -> dict:
    return stats.two_way_bootstrap(items, annotators, labels, n_items, n_annot, {"all": np.ones(n_items, dtype=bool)},
                                   scores=scores, auc_targets=TARGETS, **RULE, **kwargs).aucs


def one_draw(items, annotators, labels, n_items, n_annot, scores, w, v) -> dict:
    """The AUCs of one given resample (image weights w, annotator weights v): its interval is the value itself."""
    got = two_way_aucs(items, annotators, labels, n_items, n_annot, scores,
                       weights=(np.asarray(w, dtype=float)[None], np.asarray(v, dtype=float)[None]))
    for interval in got.values():
        assert interval is None or interval.low == interval.high
    return {key: None if interval is None else interval.low for key, interval in got.items()}


def random_campaign(seed: int, n_items: int = 50, n_annot: int = 9):
    rng = np.random.default_rng(seed)
    items = np.repeat(np.arange(n_items), n_annot)
    annotators = np.tile(np.arange(n_annot), n_items)
    labels = rng.choice(4, size=len(items), p=[0.35, 0.25, 0.3, 0.1])
    scores = {
        "ties": rng.integers(0, 4, n_items).astype(float),  # many ties
        "gaps": np.where(rng.random(n_items) < 0.2, np.nan, rng.normal(size=n_items)),  # some images without a value
    }
    return items, annotators, labels, n_items, n_annot, scores


def test_two_way_auc_with_every_weight_one_is_the_observed_auc():
    items, annotators, labels, n_items, n_annot, scores = random_campaign(4)
    got = one_draw(items, annotators, labels, n_items, n_annot, scores, np.ones(n_items), np.ones(n_annot))
    observed = stats.consensus(stats.vote_table(items, labels, n_items), 3).labels
    for metric, values in scores.items():
        use = (observed != stats.NO_CONSENSUS) & np.isfinite(values)
        assert use.sum() < n_items  # some images without a consensus or a value are left out
        for target, classes in TARGETS.items():
            expected = stats.auc(values[use], np.isin(observed[use], classes))
            assert expected is not None and 0 < expected < 1
            assert got[(metric, target)] == expected  # exactly: the same sums in another order


def weighted_auc_by_hand(scores, decided, w, classes) -> float | None:
    """Every (positive, negative) pair of images with a consensus and a value, weighted w_i w_j; a tie counts 1/2."""
    wins, pairs = 0.0, 0.0
    for i, j in itertools.product(range(len(scores)), repeat=2):
        if decided[i] == stats.NO_CONSENSUS or decided[j] == stats.NO_CONSENSUS:
            continue
        if not (np.isfinite(scores[i]) and np.isfinite(scores[j])):
            continue
        if decided[i] in classes and decided[j] not in classes:
            pairs += w[i] * w[j]
            wins += w[i] * w[j] * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
    return wins / pairs if pairs else None


def test_two_way_auc_of_one_draw_matches_a_double_loop():
    items, annotators, labels, n_items, n_annot, scores = random_campaign(6)
    w = np.ones(n_items)
    w[0], w[1], w[2] = 2, 0, 3  # image 0 counted twice, image 1 not drawn, image 2 three times
    v = np.ones(n_annot)
    v[4], v[0] = 0, 2  # annotator 4 dropped, annotator 0 drawn twice
    observed = resampled_consensus(items, annotators, labels, n_items, np.ones(n_annot))
    decided = resampled_consensus(items, annotators, labels, n_items, v)
    assert sum(a != b for a, b in zip(observed, decided, strict=True)) >= 3  # the draw changes consensus labels
    got = one_draw(items, annotators, labels, n_items, n_annot, scores, w, v)
    for metric, values in scores.items():
        for target, classes in TARGETS.items():
            expected = weighted_auc_by_hand(values, decided, w, classes)
            assert expected is not None
            assert got[(metric, target)] == pytest.approx(expected, rel=1e-12)
            # ... and not the AUC of the observed consensus: the draw changed the classes.
            assert got[(metric, target)] != pytest.approx(weighted_auc_by_hand(values, observed, w, classes))


# Four images: L1, L3, no consensus (3/3/3), L3; the metric ties the first two.
TIED_VOTES = [[9, 0, 0, 0], [0, 0, 9, 0], [3, 3, 3, 0], [0, 0, 9, 0]]
TIED_SCORES = {"m": np.array([1.0, 1.0, 2.0, 0.0])}


def test_two_way_auc_counts_ties_half():
    draw = votes_of(TIED_VOTES)
    ones = np.ones(9)
    # The L1 image ties the first L3 image (1/2) and beats the last (1); the image without a consensus is left out.
    assert one_draw(*draw, 4, 9, TIED_SCORES, [1, 1, 1, 1], ones)[("m", "creative")] == 0.75
    # The tied negative drawn twice: (2 x 1/2 + 1) / 3.
    assert one_draw(*draw, 4, 9, TIED_SCORES, [1, 2, 1, 1], ones)[("m", "creative")] == pytest.approx(2 / 3)
    # Three draws of the positive: the same share of pairs.
    assert one_draw(*draw, 4, 9, TIED_SCORES, [3, 1, 1, 1], ones)[("m", "creative")] == 0.75


def test_two_way_auc_leaves_out_resamples_without_both_classes():
    draw = votes_of(TIED_VOTES)
    ones = np.ones(9)
    no_positive, no_negative = [0, 1, 1, 1], [1, 0, 1, 0]
    assert one_draw(*draw, 4, 9, TIED_SCORES, no_positive, ones)[("m", "creative")] is None
    assert one_draw(*draw, 4, 9, TIED_SCORES, no_negative, ones)[("m", "creative")] is None
    # Two draws with an AUC and one without: the interval is the percentiles of the two.
    w = np.array([[1, 1, 1, 1], no_positive, [1, 2, 1, 1]], dtype=float)
    got = two_way_aucs(*draw, 4, 9, TIED_SCORES, weights=(w, np.ones((3, 9))))[("m", "creative")]
    low, high = np.percentile([0.75, 2 / 3], [2.5, 97.5])
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))
    # No draw with both classes (and, as for the other intervals, fewer than half of them): no interval.
    w = np.array([no_positive, no_negative], dtype=float)
    assert two_way_aucs(*draw, 4, 9, TIED_SCORES, weights=(w, np.ones((2, 9))))[("m", "creative")] is None
    w = np.array([no_positive, no_negative, [1, 1, 1, 1]], dtype=float)
    assert two_way_aucs(*draw, 4, 9, TIED_SCORES, weights=(w, np.ones((3, 9))))[("m", "creative")] is None


def test_two_way_auc_checks_its_inputs():
    draw = votes_of(TIED_VOTES)
    with pytest.raises(ValueError, match="one per image"):
        two_way_aucs(*draw, 4, 9, {"m": np.zeros(3)})
    with pytest.raises(ValueError, match="labels among"):
        stats.two_way_bootstrap(*draw, 4, 9, {}, scores=TIED_SCORES, auc_targets={"x": (4,)}, **RULE)


def test_two_way_auc_interval_carries_the_annotators_uncertainty():
    # Annotators 0-3 call an image creative when its metric is high; annotators 4-8 look at something else (u).
    # With all nine the second kind decides the consensus and the AUC is near 0.5; a draw with more of the first
    # kind makes the metric predict the consensus. Resampling images alone cannot see that.
    rng = np.random.default_rng(7)
    n_items, n_annot = 150, 9
    metric, other = rng.random(n_items), rng.random(n_items)
    items = np.repeat(np.arange(n_items), n_annot)
    annotators = np.tile(np.arange(n_annot), n_items)
    looks_at = np.where(annotators < 4, metric[items], other[items])
    labels = np.where(looks_at > 0.5, 0, 2)
    scores = {"m": metric}
    resamples = 300
    two_way = two_way_aucs(items, annotators, labels, n_items, n_annot, scores, resamples=resamples, seed=3)
    image_w = np.random.default_rng(3).multinomial(n_items, np.full(n_items, 1 / n_items), resamples)
    images_only = two_way_aucs(items, annotators, labels, n_items, n_annot, scores,
                               weights=(image_w, np.ones((resamples, n_annot))))
    for target in TARGETS:
        wide, narrow = two_way[("m", target)], images_only[("m", target)]
        assert narrow.high - narrow.low < 0.2
        assert wide.high - wide.low > 2 * (narrow.high - narrow.low)
        assert wide.high > 0.9  # some draws have the metric's kind of annotator in the majority


# Per scheme, one vote row per image (L1, L2, L3, L4); threshold 3, plurality or none.
VOTES = {
    "regular": [[0, 0, 9, 0], [1, 1, 7, 0], [0, 6, 3, 0], [3, 3, 3, 0]],
    "low_active": [[5, 4, 0, 0], [9, 0, 0, 0], [0, 5, 0, 0], [7, 2, 0, 0], [2, 6, 1, 0], [0, 0, 9, 0]],
}
# D_r amortised per image, in the same order; low-active's optimised D_r is stored, regular's is not.
AMORTISED = {"regular": [0.5, 1.0, 2.5, 9.0], "low_active": [2.0, 4.0, 1.5, 3.0, 2.2, 0.7]}
OPTIMISED = {"regular": [None] * 4, "low_active": [0.4, 0.9, 0.1, 0.6, 0.3, 0.2]}
# The consensus of each image, worked out from VOTES by hand ("" = no consensus: the 3/3/3 tie).
CONSENSUS = {"regular": ["L3", "L3", "L2", ""], "low_active": ["L1", "L1", "L2", "L1", "L2", "L3"]}


@pytest.fixture
def built(db):
    campaign, items = build_campaign(VOTES, make_annotators(9), attention=[["not_novel"] * 9])
    for scheme, scheme_items in items.items():
        if scheme == "attention_check":
            continue
        for item, amortised, optimised in zip(scheme_items, AMORTISED[scheme], OPTIMISED[scheme], strict=True):
            Sample.objects.filter(pk=item.sample_id).update(dr_amortised=amortised, dr_optimised=optimised)
    return campaign, items


def by_hand(metric: dict[str, list], classes: set[str]) -> tuple[float, int, int]:
    scores, positive = [], []
    for scheme in VOTES:
        for value, consensus in zip(metric[scheme], CONSENSUS[scheme], strict=True):
            if consensus and value is not None:
                scores.append(value)
                positive.append(consensus in classes)
    return pairwise_auc(scores, positive), len(scores), sum(positive)


def test_report_aucs_over_the_consensus_images(built):
    campaign, _ = built
    report = build_report(campaign)
    got = {(m.metric, m.target): m for m in report.metric_aucs}
    for metric, values in (("dr_amortised", AMORTISED), ("dr_optimised", OPTIMISED)):
        for target, classes in (("creative", {"L1"}), ("novel", {"L1", "L2"})):
            value, n_images, n_positive = by_hand(values, classes)
            m = got[(metric, target)]
            assert (m.n_images, m.n_positive) == (n_images, n_positive)
            assert m.auc == pytest.approx(value)
            assert m.interval is not None and m.interval.low <= m.interval.high
    # summary.csv's bootstrap intervals are those of the two-way bootstrap over the same votes (annotator j gives the
    # j-th vote of each row, images in pool order), with the report's resamples and seed: annotators are resampled too.
    rows = [row for scheme in VOTES for row in VOTES[scheme]]
    scores = {"dr_amortised": np.array([v for s in VOTES for v in AMORTISED[s]], dtype=float),
              "dr_optimised": np.array([np.nan if v is None else v for s in VOTES for v in OPTIMISED[s]])}
    expected = two_way_aucs(*votes_of(rows), len(rows), 9, scores, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)
    image_w = np.random.default_rng(BOOTSTRAP_SEED).multinomial(len(rows), np.full(len(rows), 1 / len(rows)),
                                                                 BOOTSTRAP_RESAMPLES)
    images_only = two_way_aucs(*votes_of(rows), len(rows), 9, scores,
                               weights=(image_w, np.ones((BOOTSTRAP_RESAMPLES, 9))))
    for key, m in got.items():  # the classifier's scores and distances: none stored with these samples
        assert m.boot_interval == expected[key] if key[0] in scores else (m.auc, m.interval, m.n_images) == (None, None, 0)
    # Optimised D_r separates low-active's L1 images perfectly in any draw; amortised D_r moves with the annotators.
    for key in (("dr_amortised", "creative"), ("dr_amortised", "novel")):
        assert got[key].boot_interval.low < images_only[key].low  # novel: 1.0 when images alone are resampled
    text = dict(report.parameters())["surrogate metrics"]
    assert "images and annotators crossed" in text and "two-way percentile bootstrap" in text
    assert f"{BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}" in text
    assert "not resampled" not in text
    # 9 images with a consensus (the tie and the attention check left out); optimised only on low-active's 6.
    assert got[("dr_amortised", "creative")].n_images == 9
    assert got[("dr_optimised", "novel")].n_images == 6
    means = {row.scheme: row.metric_means for row in report.schemes}
    assert means["low_active"]["dr_amortised"] == (pytest.approx(np.mean(AMORTISED["low_active"])), 6)
    assert means["regular"]["dr_optimised"] == (None, 0)


def test_report_page_shows_the_two_way_auc_intervals(client, researcher, built):
    campaign, _ = built
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    section = re.search(r'<section id="surrogates">(.*?)</section>', page, re.S).group(1)
    assert "interval with images and annotators crossed" in section
    assert "not resampled" not in page
    for m in build_report(campaign).metric_aucs:
        if m.interval is not None:  # None: a metric these samples do not carry
            assert f"[{m.interval.low:.3f}, {m.interval.high:.3f}]" in section
    params = re.search(r'<table class="params" id="parameters">(.*?)</table>', page, re.S).group(1)
    assert "images and annotators crossed" in params


def read_csv(client, campaign, kind) -> list[dict]:
    response = client.get(reverse("evaluation:download", args=[campaign.pk, kind]))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_csv_files_carry_the_metrics(client, researcher, built):
    campaign, items = built
    client.login(username=researcher.username, password=PASSWORD)
    rows = {unquote(r["image_id"]): r for r in read_csv(client, campaign, "consensus")}
    assert len(rows) == 10  # every labelled generated image; no attention check
    for scheme, scheme_items in items.items():
        if scheme == "attention_check":
            assert not any(item.public_id in rows for item in scheme_items)
            continue
        for item, amortised, optimised in zip(scheme_items, AMORTISED[scheme], OPTIMISED[scheme], strict=True):
            row = rows[item.public_id]
            assert float(row["dr_amortised"]) == amortised
            assert row["dr_optimised"] == ("" if optimised is None else repr(optimised))
    summary = read_csv(client, campaign, "summary")
    surrogate = {(r["metric"], r["target"]): r for r in summary if r["analysis"] == "surrogate"}
    assert set(surrogate) == {(m, t) for m, _ in METRICS for t in ("creative", "novel")}
    assert surrogate[("entropy", "creative")]["auc"] == ""  # these samples carry no classifier scores
    row = surrogate[("dr_amortised", "creative")]
    assert row["scheme"] == "all"
    assert float(row["auc"]) == pytest.approx(by_hand(AMORTISED, {"L1"})[0])
    assert float(row["auc_boot_low"]) <= float(row["auc"]) <= float(row["auc_boot_high"])
    assert float(row["auc_low"]) <= float(row["auc"]) <= float(row["auc_high"])
    assert (int(row["auc_images"]), int(row["auc_positives"])) == (9, 3)
    assert row["campaign_id"] == str(campaign.pk)
    primary = {r["scheme"]: r for r in summary if r["analysis"] == "primary"}
    assert float(primary["low_active"]["dr_amortised_pool_mean"]) == pytest.approx(np.mean(AMORTISED["low_active"]))
    assert primary["low_active"]["dr_amortised_pool_n"] == "6"
    assert primary["regular"]["dr_optimised_pool_mean"] == ""


def gallery_ids(page: str, scheme: str, kind: str) -> list[str]:
    section = re.search(rf'id="gallery-{scheme}">(.*?)(?:class="gallery-scheme"|</section>)', page, re.S).group(1)
    listing = re.search(rf'<ul class="gallery {kind}">(.*?)</ul>', section, re.S)
    return re.findall(r'data-public-id="([^"]+)"', listing.group(1)) if listing else []


def test_gallery_shows_the_strongest_images_in_order(client, researcher, built):
    campaign, items = built
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    low = [item.public_id for item in items["low_active"]]
    regular = [item.public_id for item in items["regular"]]
    # Consensus L1 by share of L1 votes: 9/9, then 7/9, then 5/9; L2 by share of L2 votes: 5/5, then 6/9.
    assert gallery_ids(page, "low_active", "creative") == [low[1], low[3], low[0]]
    assert gallery_ids(page, "low_active", "novel") == [low[2], low[4]]
    assert gallery_ids(page, "regular", "creative") == []
    assert gallery_ids(page, "regular", "novel") == [regular[2]]
    assert f'src="/annotate/image/{low[1]}.png"' in page
    for item in items["attention_check"]:
        assert item.public_id not in page


def test_gallery_keeps_the_strongest_eight(db):
    votes = {"low_active": [[5 + k % 5, 4 - k % 5, 0, 0] for k in range(12)]}  # L1 wins every image
    campaign, items = build_campaign(votes, make_annotators(9))
    gallery = build_report(campaign, inference=False).gallery[0]
    shares = [image.share for image in gallery.creative]
    assert gallery.n_creative == 12 and len(gallery.creative) == GALLERY_SIZE
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0


@pytest.mark.parametrize("persona", ["annotator", "stranger"])
def test_gallery_is_not_shown_to_annotators(client, request, persona, built):
    campaign, items = built
    Sample.objects.get(pk=items["low_active"][1].sample_id).image.save("x.png", ContentFile(png_bytes()))
    user = request.getfixturevalue(persona)
    client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("evaluation:report", args=[campaign.pk]))
    assert response.status_code == 404
    assert b"gallery" not in response.content
    # The image itself: annotators of a campaign that does not show it to them get nothing either.
    assert client.get(f"/annotate/image/{items['low_active'][1].public_id}.png").status_code == 404


def test_gallery_image_reaches_researchers(client, researcher, built):
    campaign, items = built
    Sample.objects.get(pk=items["low_active"][1].sample_id).image.save("x.png", ContentFile(png_bytes()))
    client.login(username=researcher.username, password=PASSWORD)
    assert client.get(f"/annotate/image/{items['low_active'][1].public_id}.png").status_code == 200


def test_anonymous_visitors_are_sent_to_login(client, built):
    campaign, _ = built
    response = client.get(reverse("evaluation:report", args=[campaign.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_metric_with_one_value_for_every_image_gets_no_auc_and_says_why():
    from evaluation.reports import _metric_aucs

    labels = np.array([0, 0, 1, 2, 2, 3])
    out = {(m.metric, m.target): m for m in _metric_aucs(
        labels, {"out_of_class_count": np.zeros(6), "nn_pixels": np.arange(6.0)}, None, {})}
    flat = out[("out_of_class_count", "creative")]
    assert flat.auc is None and flat.interval is None and flat.why_none == "the same value (0) for every image"
    assert flat.n_images == 6 and flat.n_positive == 2
    assert out[("nn_pixels", "creative")].auc == pytest.approx(0.0)  # the first two images score lowest
    one_class = _metric_aucs(np.zeros(4, dtype=int), {"nn_pixels": np.arange(4.0)}, None, {})[0]
    assert one_class.auc is None and one_class.why_none == "needs both classes"


def test_the_all_row_carries_the_metric_means(client, researcher, built):
    campaign, _ = built
    client.login(username=researcher.username, password=PASSWORD)
    primary = {r["scheme"]: r for r in read_csv(client, campaign, "summary") if r["analysis"] == "primary"}
    every = AMORTISED["regular"] + AMORTISED["low_active"]
    assert float(primary["all"]["dr_amortised_pool_mean"]) == pytest.approx(np.mean(every))
    assert primary["all"]["dr_amortised_pool_n"] == str(len(every))
    assert float(primary["all"]["dr_optimised_pool_mean"]) == pytest.approx(np.mean(OPTIMISED["low_active"]))
    assert primary["all"]["dr_optimised_pool_n"] == "6"
    assert primary["all"]["entropy_pool_n"] == "0"  # no classifier scores stored with these samples
