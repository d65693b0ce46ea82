"""Fleiss' kappa and Krippendorff's alpha agree with direct formulas and the reference packages."""

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from evaluation.stats import NO_CONSENSUS, fleiss_kappa, krippendorff_alpha
from tests.evaluation.by_hand import resampled_consensus


def fleiss_by_hand(table: np.ndarray) -> float:
    """Fleiss (1971), straight from the definition."""
    table = table.astype(float)
    n = table.sum(axis=1)[0]
    p_j = table.sum(axis=0) / table.sum()
    p_i = ((table * table).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), (p_j**2).sum()
    return (p_bar - p_e) / (1 - p_e)


def alpha_by_hand(table: np.ndarray) -> float:
    """Nominal Krippendorff's alpha from the coincidence matrix; units with under 2 values carry no pairs."""
    table = table[table.sum(axis=1) >= 2].astype(float)
    m = table.sum(axis=1)
    k = table.shape[1]
    coincidence = np.zeros((k, k))
    for row, mu in zip(table, m, strict=True):
        coincidence += (np.outer(row, row) - np.diag(row)) / (mu - 1)
    n_c = coincidence.sum(axis=0)
    n = n_c.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n * n - (n_c**2).sum()) / (n - 1)
    return 1 - observed / expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_matches_fleiss_by_hand_and_statsmodels(seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), size=60)
    table = np.stack([rng.multinomial(9, p) for p in probs])
    assert fleiss_kappa(table) == pytest.approx(fleiss_by_hand(table), abs=1e-12)
    assert fleiss_kappa(table) == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)


def test_it_leaves_images_with_fewer_votes_out_of_fleiss():
    rng = np.random.default_rng(3)
    full = rng.multinomial(9, [0.4, 0.3, 0.2, 0.1], size=40)
    partial = rng.multinomial(5, [0.25] * 4, size=7)
    assert fleiss_kappa(np.vstack([full, partial]), raters=9) == pytest.approx(fleiss_by_hand(full), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_matches_alpha_by_hand_and_the_krippendorff_package(seed):
    rng = np.random.default_rng(seed)
    raters, units = 9, 50
    data = rng.integers(0, 4, size=(raters, units)).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan  # missing labels: images with fewer than 9 votes
    table = np.stack([np.bincount(col[~np.isnan(col)].astype(int), minlength=4) for col in data.T])
    reference = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal", value_domain=[0, 1, 2, 3])
    assert krippendorff_alpha(table) == pytest.approx(reference, abs=1e-9)
    assert krippendorff_alpha(table) == pytest.approx(alpha_by_hand(table), abs=1e-9)


def test_it_gives_perfect_agreement_and_none_when_undefined():
    perfect = np.array([[9, 0, 0, 0], [0, 9, 0, 0], [0, 0, 9, 0]])
    assert fleiss_kappa(perfect) == pytest.approx(1.0)
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    one_category = np.array([[9, 0, 0, 0], [9, 0, 0, 0]])
    assert fleiss_kappa(one_category) is None
    assert krippendorff_alpha(one_category) is None
    assert fleiss_kappa(np.zeros((0, 4), dtype=int)) is None
    assert krippendorff_alpha(np.array([[1, 0, 0, 0]])) is None


def test_it_reports_the_counts_behind_kappa_and_leaves_it_out_below_the_minimum():
    from evaluation.stats import MIN_KAPPA_IMAGES, agreement

    rng = np.random.default_rng(4)
    full = np.stack([rng.multinomial(9, p) for p in rng.dirichlet(np.ones(4), size=12)])
    short = np.array([[3, 2, 0, 0], [0, 1, 6, 0], [1, 0, 0, 0]])  # 5, 7 and 1 votes
    result = agreement(np.vstack([full, short]), 9)
    assert (result.kappa_images, result.kappa_votes) == (12, 108)
    assert result.kappa == pytest.approx(sm_fleiss_kappa(full), abs=1e-12)
    assert (result.alpha_images, result.alpha_votes) == (14, 108 + 12)  # the 1-vote image carries no pair
    assert result.alpha == pytest.approx(alpha_by_hand(np.vstack([full, short])), abs=1e-9)
    assert result.headline == "alpha"  # images with fewer votes: alpha is the figure that uses them
    few = agreement(full[: MIN_KAPPA_IMAGES - 1], 9)
    assert few.kappa is None and f"{MIN_KAPPA_IMAGES - 1} images with all 9 votes" in few.kappa_note
    assert agreement(full, 9).headline == "kappa"


def test_it_bootstraps_annotators_and_images_together():
    from evaluation.stats import consensus, two_way_bootstrap, vote_table

    rng = np.random.default_rng(5)
    n_items, n_annot = 60, 9
    items = np.repeat(np.arange(n_items), n_annot)
    annotators = np.tile(np.arange(n_annot), n_items)
    # Annotator 0 says L1 much more often than the others: an annotator effect shared by every image.
    p_l1 = np.where(annotators == 0, 0.8, 0.2)
    labels = np.where(rng.random(len(items)) < p_l1, 0, rng.integers(1, 4, len(items)))
    table = vote_table(items, labels, n_items)
    groups = {"all": np.ones(n_items, dtype=bool), "half": np.arange(n_items) < 30}
    kwargs = dict(raters=9, threshold=3, tie_policy="plurality_or_none")

    # Every weight 1: the point estimates themselves (statsmodels, krippendorff, the rule).
    ones = (np.ones((1, n_items)), np.ones((1, n_annot)))
    same = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, weights=ones, **kwargs).groups["all"]
    labels_0 = consensus(table, 3).labels
    have = labels_0 >= 0
    assert same.fractions[0].low == pytest.approx((labels_0[have] == 0).mean())
    assert same.no_consensus.low == pytest.approx(1 - have.mean())
    assert same.kappa.low == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)
    assert same.alpha.low == pytest.approx(krippendorff.alpha(value_counts=table, level_of_measurement="nominal"), abs=1e-12)

    # One explicit draw, against the resampled data written out vote by vote (an annotator drawn twice votes twice;
    # the threshold stays a third of the image's votes).
    w = rng.multinomial(n_items, np.full(n_items, 1 / n_items))
    v = rng.multinomial(n_annot, np.full(n_annot, 1 / n_annot))
    got = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, weights=(w[None], v[None]), **kwargs)
    counts, n_cons, n_all = np.zeros(4), 0, 0
    for i, decided in enumerate(resampled_consensus(items, annotators, labels, n_items, v)):
        n_all += w[i]
        if decided != NO_CONSENSUS:
            counts[decided] += w[i]
            n_cons += w[i]
    assert got.groups["all"].fractions[0].low == pytest.approx(counts[0] / n_cons)
    assert got.groups["all"].no_consensus.low == pytest.approx(1 - n_cons / n_all)

    # Seeded, and wider than resampling images alone would be: annotator 0's taste moves every image at once.
    result = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, resamples=400, seed=1, **kwargs)
    assert result == two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, resamples=400, seed=1, **kwargs)
    images_only = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, resamples=400, seed=1,
                                    weights=(np.random.default_rng(1).multinomial(n_items, np.full(n_items, 1 / n_items), 400),
                                             np.ones((400, n_annot))), **kwargs)
    width = result.groups["all"].alpha.high - result.groups["all"].alpha.low
    assert width > images_only.groups["all"].alpha.high - images_only.groups["all"].alpha.low


def test_its_bootstrap_alpha_leaves_out_images_left_with_one_annotator():
    """Alpha pairs the values of a unit: an image whose drawn annotators are one annotator (drawn twice) has no pair,
    so, as in the standard alpha, its votes leave the marginals too: the same as not drawing the image at all."""
    from evaluation.stats import two_way_bootstrap

    rng = np.random.default_rng(2)
    n_items, n_annot = 12, 5
    # Image 0 is labelled by annotators 0 and 1 only; the others by all five.
    items = np.r_[[0, 0], np.repeat(np.arange(1, n_items), n_annot)]
    annotators = np.r_[[0, 1], np.tile(np.arange(n_annot), n_items - 1)]
    labels = np.r_[[0, 3], rng.integers(0, 4, (n_items - 1) * n_annot)]
    groups = {"all": np.ones(n_items, dtype=bool)}
    kwargs = dict(raters=n_annot, threshold=2, tie_policy="plurality_or_none")
    v = np.array([[2.0, 0.0, 1.0, 1.0, 1.0]])  # annotator 1 not drawn: image 0 keeps annotator 0 twice
    w = np.ones((1, n_items))
    without = w.copy()
    without[0, 0] = 0.0
    got = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, weights=(w, v), **kwargs)
    expected = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, weights=(without, v), **kwargs)
    assert got.groups["all"].alpha.low == pytest.approx(expected.groups["all"].alpha.low, abs=1e-12)
