"""Normalised label fractions and their Wilson intervals."""

import math

import pytest

from evaluation.stats import consensus, label_fractions, wilson_interval


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_it_normalises_over_consensus_images():
    table = [[9, 0, 0, 0], [5, 4, 0, 0], [0, 0, 9, 0], [3, 3, 3, 0], [1, 1, 1, 0]]
    f = label_fractions(consensus(table), expected_votes=9)
    assert f.n_images == 5
    assert f.n_consensus == 3
    assert f.n_no_consensus == 2
    assert f.n_several == 2  # [5,4,0,0] and [3,3,3,0] have two labels reaching 3 ...
    assert f.n_tied_top == 1  # ... but only [3,3,3,0] is tied for the most
    assert f.n_incomplete == 1  # [1,1,1,0]
    assert f.counts == (2, 0, 1, 0)
    assert f.fractions == pytest.approx((2 / 3, 0, 1 / 3, 0))
    assert sum(f.fractions) == pytest.approx(1)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (37, 125)])
def test_it_gives_wilson_intervals(k, n):
    interval = wilson_interval(k, n)
    low, high = wilson_by_hand(k, n)
    assert interval.low == pytest.approx(max(low, 0), abs=1e-12)
    assert interval.high == pytest.approx(min(high, 1), abs=1e-12)
    assert interval.low <= k / n <= interval.high


def test_it_reports_nothing_for_a_scheme_without_consensus():
    f = label_fractions(consensus([[3, 3, 3, 0], [2, 2, 2, 2]]), expected_votes=9)
    assert f.n_consensus == 0
    assert f.n_no_consensus == 2
    assert f.fractions == (None, None, None, None)
    assert f.intervals == (None, None, None, None)
    assert f.counts == (0, 0, 0, 0)
