"""Fisher's exact test of low-active against each baseline on L1, with Holm's correction."""

import pytest
from scipy.stats import hypergeom

from evaluation.stats import fisher_l1_tests


def fisher_two_sided_by_hand(a: int, b: int, c: int, d: int) -> float:
    """Sum of hypergeometric probabilities of tables no more likely than the observed one."""
    total_l1, n1, total = a + c, a + b, a + b + c + d
    dist = hypergeom(total, total_l1, n1)
    observed = dist.pmf(a)
    lo, hi = max(0, n1 - (b + d)), min(n1, total_l1)
    return sum(dist.pmf(x) for x in range(lo, hi + 1) if dist.pmf(x) <= observed * (1 + 1e-7))


def test_it_tests_low_active_against_each_baseline():
    per_scheme = {"low_active": (30, 100), "regular": (10, 100), "noisy": (25, 90), "random_flip": (0, 0)}
    rows = fisher_l1_tests("low_active", per_scheme, ["regular", "noisy", "random_flip"])
    by_base = {r.baseline: r for r in rows}
    assert by_base["regular"].p_value == pytest.approx(fisher_two_sided_by_hand(30, 70, 10, 90), rel=1e-9)
    assert by_base["noisy"].p_value == pytest.approx(fisher_two_sided_by_hand(30, 70, 25, 65), rel=1e-9)
    assert by_base["regular"].odds_ratio == pytest.approx((30 * 90) / (70 * 10))
    assert by_base["random_flip"].p_value is None  # no consensus images to compare with
    # Holm over two p-values: the smaller is doubled, the larger kept (but never below the first).
    p_small, p_large = sorted([by_base["regular"].p_value, by_base["noisy"].p_value])
    assert by_base["regular"].p_holm == pytest.approx(min(1, 2 * p_small))
    assert by_base["noisy"].p_holm == pytest.approx(max(min(1, 2 * p_small), p_large))


def test_it_skips_when_low_active_has_no_consensus_images():
    rows = fisher_l1_tests("low_active", {"low_active": (0, 0), "regular": (3, 9)}, ["regular"])
    assert rows[0].p_value is None and rows[0].p_holm is None


def test_it_reports_an_infinite_odds_ratio_when_the_baseline_has_no_l1():
    rows = fisher_l1_tests("low_active", {"low_active": (5, 10), "regular": (0, 10)}, ["regular"])
    assert rows[0].odds_ratio == float("inf")
    assert rows[0].p_value == pytest.approx(fisher_two_sided_by_hand(5, 5, 0, 10), rel=1e-9)


@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03], [0.5, 0.001, 0.2, 0.04], [0.9], [0.02, 0.02, 0.6]])
def test_it_adjusts_like_statsmodels_holm(p_values):
    from statsmodels.stats.multitest import multipletests

    from evaluation.stats import holm

    assert holm(p_values) == pytest.approx(multipletests(p_values, method="holm")[1].tolist())


def test_it_tests_the_share_of_l1_votes_without_conditioning_on_consensus():
    """Against the exact permutation distribution, enumerated by hand over every split of the images."""
    import itertools

    import numpy as np

    from evaluation.stats import l1_share_tests

    low = np.array([5, 4, 6, 3, 7]) / 9
    regular = np.array([1, 2, 0, 3, 1, 2]) / 9
    noisy = np.array([4, 3, 5, 2]) / 9
    rows = {r.baseline: r for r in l1_share_tests({"low_active": low, "regular": regular, "noisy": noisy},
                                                  "low_active", ["regular", "noisy"])}

    def exact(x, y):
        """Two-sided as scipy defines it: twice the smaller one-sided p-value (at most 1)."""
        pooled = np.concatenate([x, y])
        observed = x.mean() - y.mean()
        greater = less = total = 0
        for chosen in itertools.combinations(range(len(pooled)), len(x)):
            mask = np.zeros(len(pooled), dtype=bool)
            mask[list(chosen)] = True
            diff = pooled[mask].mean() - pooled[~mask].mean()
            greater += diff >= observed - 1e-12
            less += diff <= observed + 1e-12
            total += 1
        return min(1.0, 2 * min(greater, less) / total)

    assert rows["regular"].p_value == pytest.approx(exact(low, regular), abs=1e-12)  # 462 splits: enumerated
    assert rows["noisy"].p_value == pytest.approx(exact(low, noisy), abs=1e-12)
    assert rows["regular"].mean == pytest.approx(low.mean()) and rows["regular"].baseline_n == 6
    p = sorted([rows["regular"].p_value, rows["noisy"].p_value])
    assert rows["regular"].p_holm == pytest.approx(min(1, 2 * p[0]) if rows["regular"].p_value == p[0] else max(min(1, 2 * p[0]), p[1]))


def test_it_samples_permutations_when_there_are_too_many_to_enumerate():
    import itertools

    import numpy as np

    from evaluation.stats import permutation_p_value

    rng = np.random.default_rng(3)
    x, y = rng.integers(2, 8, 10) / 9, rng.integers(0, 6, 10) / 9  # 184,756 splits: more than 9,999
    pooled = np.concatenate([x, y])
    chosen = np.array(list(itertools.combinations(range(20), 10)))
    sums = pooled[chosen].sum(axis=1)
    diffs = sums / 10 - (pooled.sum() - sums) / 10
    observed = x.mean() - y.mean()
    exact = min(1.0, 2 * min((diffs >= observed - 1e-12).mean(), (diffs <= observed + 1e-12).mean()))
    sampled = permutation_p_value(x, y, seed=0)
    assert abs(sampled - exact) < 4 * np.sqrt(exact * (1 - exact) / 9999) + 2e-4  # within Monte Carlo error
    assert permutation_p_value(x, y, seed=0) == sampled  # seeded
