"""The chance baseline of the 3-of-9 rule, computed exactly."""

import itertools
import math

import pytest

from evaluation.stats import chance_consensus, chance_reach_probability


def reach_by_hand(n: int, t: int, k: int = 4) -> float:
    p = 1 / k
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(t, n + 1))


def test_it_gives_the_binomial_probability_of_reaching_the_threshold():
    assert chance_reach_probability(9, 3) == pytest.approx(reach_by_hand(9, 3), abs=1e-15)
    assert chance_reach_probability(9, 3) == pytest.approx(0.3993, abs=1e-4)
    assert chance_reach_probability(5, 3) == pytest.approx(reach_by_hand(5, 3), abs=1e-15)


def multinomial(counts) -> float:
    n = sum(counts)
    return math.factorial(n) / math.prod(math.factorial(c) for c in counts) / 4**n


def test_it_gives_the_exact_outcome_distribution_of_the_unique_rule():
    # Unique rule by hand: label 0 wins when it alone reaches 3 of 9.
    splits = [c for c in itertools.product(range(10), repeat=4) if sum(c) == 9]
    expected = sum(multinomial(c) for c in splits if c[0] >= 3 and all(x < 3 for x in c[1:]))
    per_label, none = chance_consensus(9, 3, "unique_or_none")
    assert per_label[0] == pytest.approx(expected, abs=1e-12)
    assert sum(per_label) + none == pytest.approx(1.0)
    assert len(set(round(p, 12) for p in per_label)) == 1  # symmetric


def test_it_sends_ties_to_inconclusive_under_that_policy():
    plain, none = chance_consensus(9, 3, "plurality_or_none")
    inconclusive, none_inc = chance_consensus(9, 3, "plurality_or_inconclusive")
    # With 9 votes some label always reaches 3, so only tied tops lack a consensus; they all move to L4.
    assert none_inc == pytest.approx(0.0, abs=1e-12)
    assert inconclusive[3] == pytest.approx(plain[3] + none, abs=1e-12)
    assert inconclusive[:3] == pytest.approx(plain[:3])
    tied = sum(
        multinomial(c)
        for c in itertools.product(range(10), repeat=4)
        if sum(c) == 9 and sorted(c)[-1] == sorted(c)[-2]
    )
    assert none == pytest.approx(tied, abs=1e-12)
