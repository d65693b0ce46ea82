"""Fleiss' kappa and Krippendorff's alpha agree with direct formulas and the reference packages."""

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from evaluation.stats import fleiss_kappa, krippendorff_alpha


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


def test_it_bootstraps_the_agreement_over_images():
    from evaluation.stats import _alpha_from_sums, _fleiss_from_sums, bootstrap_agreement

    rng = np.random.default_rng(5)
    table = np.stack([rng.multinomial(9, p) for p in rng.dirichlet(np.full(4, 0.5), size=200)])
    # With every image drawn once, the weighted sums give back the plain statistics.
    once = np.ones((1, len(table)))
    assert _fleiss_from_sums(once, table.astype(float), 9)[0] == pytest.approx(fleiss_kappa(table), abs=1e-12)
    assert _alpha_from_sums(once, table.astype(float))[0] == pytest.approx(krippendorff_alpha(table), abs=1e-12)
    # With an image drawn twice, the same as duplicating its row.
    twice = once.copy()
    twice[0, 0] = 2
    doubled = np.vstack([table, table[:1]])
    assert _fleiss_from_sums(twice, table.astype(float), 9)[0] == pytest.approx(fleiss_by_hand(doubled), abs=1e-12)
    assert _alpha_from_sums(twice, table.astype(float))[0] == pytest.approx(alpha_by_hand(doubled), abs=1e-12)

    result = bootstrap_agreement(table, 9, resamples=500, seed=1)
    assert result.fleiss_kappa.low < fleiss_kappa(table) < result.fleiss_kappa.high
    assert result.krippendorff_alpha.low < krippendorff_alpha(table) < result.krippendorff_alpha.high
    assert result.fleiss_kappa.high - result.fleiss_kappa.low < 0.2
    assert bootstrap_agreement(table, 9, resamples=500, seed=1) == result  # seeded: the same every time
    assert bootstrap_agreement(table[:1], 9).fleiss_kappa is None
