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


def brute_force(n: int, threshold: int, abstain: bool) -> list[float]:
    """Every one of the 4^n vote sequences, the rule (plurality or none) applied by hand: L1..L4, none."""
    out = [0.0] * 5
    for votes in itertools.product(range(4), repeat=n):
        counts = [votes.count(k) for k in range(4)]
        if abstain:
            counts[3] = 0
        reach = [k for k in range(4) if counts[k] >= threshold]
        top = [k for k in reach if counts[k] == max(counts[r] for r in reach)] if reach else []
        out[top[0] if len(top) == 1 else 4] += 1
    return [x / 4**n for x in out]


def test_it_follows_the_abstain_setting():
    from evaluation.stats import chance_baseline

    per_label, none = chance_consensus(9, 3, "plurality_or_none", abstain=True)
    assert [round(p, 4) for p in per_label] == [0.2458, 0.2458, 0.2458, 0.0]
    assert round(none, 4) == 0.2625
    assert [*per_label, none] == pytest.approx(brute_force(9, 3, abstain=True), abs=1e-12)
    assert [*chance_consensus(9, 3, "plurality_or_none")[0]] == pytest.approx(brute_force(9, 3, False)[:4], abs=1e-12)
    baseline = chance_baseline([9] * 5, 3, "plurality_or_none", abstain=True, default_raters=9)
    assert baseline.reach[3] == 0.0 and baseline.reach[0] == pytest.approx(reach_by_hand(9, 3))
    assert baseline.among_consensus[0] == pytest.approx(per_label[0] / (1 - none))


def test_it_follows_each_images_number_of_votes():
    from evaluation.stats import chance_baseline

    assert round(chance_reach_probability(8, 3), 4) == 0.3215
    # Three images with 9 votes, one with 8: the average of the exact figures of each.
    baseline = chance_baseline([9, 9, 8, 9], 3, "plurality_or_none", abstain=False, default_raters=9)
    nine, eight = brute_force(9, 3, False), brute_force(8, 3, False)
    assert [*baseline.labels, baseline.none] == pytest.approx([(3 * a + b) / 4 for a, b in zip(nine, eight, strict=True)])
    assert baseline.reach[0] == pytest.approx((3 * reach_by_hand(9, 3) + reach_by_hand(8, 3)) / 4)
    assert baseline.votes == {8: 1, 9: 3}
    # Nothing labelled yet: the campaign's votes per image.
    assert chance_baseline([], 3, "plurality_or_none", abstain=False, default_raters=9).reach[0] == pytest.approx(
        reach_by_hand(9, 3))
