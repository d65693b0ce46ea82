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
from evaluation.reports import GALLERY_SIZE, build_report
from generation.models import Sample
from tests.evaluation.builders import build_campaign, make_annotators
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
    assert stats.bootstrap_auc([1, 2], [False, False]) is None


def test_bootstrap_auc():
    # Perfect separation stays perfect in every resample that has both classes.
    interval = stats.bootstrap_auc([5, 4, 3, 1, 0, -1], [1, 1, 1, 0, 0, 0], resamples=200)
    assert (interval.low, interval.high) == (1.0, 1.0)
    rng = np.random.default_rng(1)
    scores = rng.normal(size=200)
    positive = scores + rng.normal(size=200) > 0.5
    interval = stats.bootstrap_auc(scores, positive, resamples=300, seed=2)
    assert interval.low < stats.auc(scores, positive) < interval.high
    assert 0.5 < interval.low and interval.high < 1.0


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
    # 9 images with a consensus (the tie and the attention check left out); optimised only on low-active's 6.
    assert got[("dr_amortised", "creative")].n_images == 9
    assert got[("dr_optimised", "novel")].n_images == 6
    means = {row.scheme: row.metric_means for row in report.schemes}
    assert means["low_active"]["dr_amortised"] == (pytest.approx(np.mean(AMORTISED["low_active"])), 6)
    assert means["regular"]["dr_optimised"] == (None, 0)


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
    assert set(surrogate) == {(m, t) for m in ("dr_amortised", "dr_optimised") for t in ("creative", "novel")}
    row = surrogate[("dr_amortised", "creative")]
    assert row["scheme"] == "all"
    assert float(row["auc"]) == pytest.approx(by_hand(AMORTISED, {"L1"})[0])
    assert float(row["auc_boot_low"]) <= float(row["auc"]) <= float(row["auc_boot_high"])
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
