"""Tests of significance: Fisher's exact test on consensus L1, a permutation test on the share of L1 votes, Holm.

References: Fisher, R. A. (1922), "On the interpretation of chi-squared from contingency tables, and the calculation
of P", JRSS 85(1), 87-94 (the exact test, via scipy); Holm, S. (1979), "A simple sequentially rejective multiple
test procedure", Scandinavian Journal of Statistics 6(2), 65-70; Phipson, B. & Smyth, G. K. (2010), "Permutation
P-values should never be zero", Statistical Applications in Genetics and Molecular Biology 9(1) ((k + 1) / (B + 1)).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order.

    The same numbers as statsmodels' multipletests(method="holm") (the tests check that), which forces a
    full garbage collection on every call: a tenth of a second per report page.
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    stepped = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


@dataclass(frozen=True)
class ProportionTest:
    scheme: str
    baseline: str
    count: int  # L1 images of the scheme
    nobs: int  # consensus images of the scheme
    baseline_count: int
    baseline_nobs: int
    odds_ratio: float | None
    p_value: float | None
    p_holm: float | None  # Holm-adjusted over the comparisons made together

    @property
    def difference(self) -> float | None:
        """L1 share of the scheme minus the baseline's, among their consensus images."""
        if not self.nobs or not self.baseline_nobs:
            return None
        return self.count / self.nobs - self.baseline_count / self.baseline_nobs


def fisher_l1_tests(
    target: str, per_scheme: dict[str, tuple[int, int]], baselines: list[str]
) -> list[ProportionTest]:
    """Two-sided Fisher's exact test of `target` against each baseline on (L1 count, consensus images).

    The 2x2 table is [[L1, other consensus labels]] for the two schemes. Holm's correction is applied
    over the comparisons that could be made.
    """
    rows: list[ProportionTest] = []
    raw: list[float] = []
    tc, tn = per_scheme.get(target, (0, 0))
    for base in baselines:
        bc, bn = per_scheme.get(base, (0, 0))
        if tn and bn:
            res = sps.fisher_exact([[tc, tn - tc], [bc, bn - bc]], alternative="two-sided")
            odds = None if math.isnan(res.statistic) else float(res.statistic)  # inf when the baseline has no L1
            p = float(res.pvalue)
            raw.append(p)
        else:
            odds, p = None, None
        rows.append(ProportionTest(target, base, tc, tn, bc, bn, odds, p, None))
    if raw:
        adjusted = iter(holm(raw))
        rows = [
            ProportionTest(**{**r.__dict__, "p_holm": float(next(adjusted))}) if r.p_value is not None else r
            for r in rows
        ]
    return rows


@dataclass(frozen=True)
class ShareTest:
    """Target vs a baseline on each image's raw share of L1 votes: no image is dropped for lacking a consensus."""

    scheme: str
    baseline: str
    n: int  # images of the scheme with at least one vote in the table
    baseline_n: int
    mean: float | None  # mean per-image share of L1 votes
    baseline_mean: float | None
    p_value: float | None  # two-sided permutation test of the difference of the means
    p_holm: float | None
    resamples: int


PERMUTATIONS = 9999


@functools.lru_cache(maxsize=8)
def _random_subsets(n: int, k: int, resamples: int, seed: int) -> np.ndarray:
    """`resamples` random k-subsets of range(n): the k smallest of n random keys (a partition, not a sort).

    They depend only on the sizes and the seed, so they are kept for the next test of the same sizes (the same
    images under the other treatment of "inconclusive", the next page view).
    """
    keys = np.random.default_rng(seed).random((resamples, n), dtype=np.float32)
    chosen = np.argpartition(keys, k - 1, axis=1)[:, :k].astype(np.int32)
    chosen.flags.writeable = False
    return chosen


def permutation_p_value(x: np.ndarray, y: np.ndarray, *, resamples: int = PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided permutation p-value of mean(x) - mean(y), defined as scipy.stats.permutation_test defines it.

    Twice the smaller one-sided p-value (at most 1); exact over every split when there are at most `resamples`
    of them, else from `resamples` random splits with the observed one counted in ((k + 1) / (resamples + 1)).
    Written out because scipy draws its random permutations one at a time in Python: seconds per report page.
    """
    pooled = np.concatenate([x, y]).astype(float)
    n, k = len(pooled), len(x)
    observed = x.mean() - y.mean()
    total = pooled.sum()
    exact = math.comb(n, k) <= resamples
    if exact:
        chosen = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
        sums = pooled[chosen].sum(axis=1)
    else:
        sums = pooled[_random_subsets(n, k, resamples, seed)].sum(axis=1)
    diffs = sums / k - (total - sums) / (n - k)
    # scipy's tolerance for ties between the observed statistic and a permuted one
    gamma = np.abs(np.finfo(float).eps * 100 * observed) if observed else 0.0
    greater = (diffs >= observed - gamma).sum()
    less = (diffs <= observed + gamma).sum()
    if exact:
        p_greater, p_less = greater / len(diffs), less / len(diffs)
    else:
        p_greater, p_less = (greater + 1) / (resamples + 1), (less + 1) / (resamples + 1)
    return float(min(1.0, 2 * min(p_greater, p_less)))


def l1_share_tests(
    shares: dict[str, np.ndarray], target: str, baselines: list[str], *, resamples: int = PERMUTATIONS, seed: int = 0
) -> list[ShareTest]:
    """Permutation test of the difference in mean per-image share of L1 votes, Holm over the baselines.

    Under the null hypothesis the scheme does not change an image's votes, so the images' scheme names are
    exchangeable; the test is exact (every split enumerated) when there are fewer splits than `resamples`.
    """
    x = np.asarray(shares.get(target, np.zeros(0)), dtype=float)
    rows: list[ShareTest] = []
    raw: list[float] = []
    for base in baselines:
        y = np.asarray(shares.get(base, np.zeros(0)), dtype=float)
        p = None
        if len(x) >= 2 and len(y) >= 2:  # with fewer images a side there is nothing to permute
            p = permutation_p_value(x, y, resamples=resamples, seed=seed)
            raw.append(p)
        rows.append(ShareTest(target, base, len(x), len(y), float(x.mean()) if len(x) else None,
                              float(y.mean()) if len(y) else None, p, None, resamples))
    if raw:
        adjusted = iter(holm(raw))
        rows = [ShareTest(**{**r.__dict__, "p_holm": float(next(adjusted))}) if r.p_value is not None else r for r in rows]
    return rows
