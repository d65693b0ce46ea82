"""The 3-of-9 rule and its tie policies on hand-built vote tables."""

import numpy as np
import pytest

from evaluation.stats import NO_CONSENSUS, TiePolicy, consensus

# Rows: votes for L1..L4.
TABLE = [
    [9, 0, 0, 0],  # unanimous L1
    [4, 3, 2, 0],  # L1 leads, L2 also reaches 3
    [3, 3, 3, 0],  # the 3/3/3 tie
    [3, 3, 2, 1],  # a two-way tie at 3
    [2, 2, 2, 3],  # only L4 reaches 3
    [1, 5, 2, 1],  # L2 alone
    [2, 2, 0, 0],  # 4 labels only: nothing reaches 3
    [0, 0, 3, 0],  # 3 labels only, all L3
    [0, 0, 0, 0],  # no labels
]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (TiePolicy.PLURALITY_OR_NONE, [0, 0, NO_CONSENSUS, NO_CONSENSUS, 3, 1, NO_CONSENSUS, 2, NO_CONSENSUS]),
        (TiePolicy.PLURALITY_OR_INCONCLUSIVE, [0, 0, 3, 3, 3, 1, NO_CONSENSUS, 2, NO_CONSENSUS]),
        (TiePolicy.UNIQUE_OR_NONE, [0, NO_CONSENSUS, NO_CONSENSUS, NO_CONSENSUS, 3, 1, NO_CONSENSUS, 2, NO_CONSENSUS]),
    ],
)
def test_it_applies_each_tie_policy(policy, expected):
    result = consensus(TABLE, threshold=3, tie_policy=policy)
    assert result.labels.tolist() == expected


def test_it_flags_ties_and_counts_votes():
    result = consensus(TABLE, threshold=3)
    assert result.several.tolist() == [False, True, True, True, False, False, False, False, False]
    assert result.votes.tolist() == [9, 9, 9, 9, 9, 9, 4, 3, 0]


def test_it_uses_the_threshold():
    result = consensus([[2, 2, 0, 0], [5, 4, 0, 0]], threshold=5)
    assert result.labels.tolist() == [NO_CONSENSUS, 0]
    assert consensus([[2, 2, 0, 0]], threshold=2, tie_policy="plurality_or_none").labels.tolist() == [NO_CONSENSUS]


def test_it_rejects_bad_tables_and_parameters():
    with pytest.raises(ValueError, match="shape"):
        consensus(np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="negative"):
        consensus([[1, -1, 0, 0]])
    with pytest.raises(ValueError, match="at least 1"):
        consensus([[1, 0, 0, 0]], threshold=0)
    with pytest.raises(ValueError):
        consensus([[1, 0, 0, 0]], tie_policy="coin_flip")


def test_it_handles_an_empty_table():
    result = consensus(np.zeros((0, 4), dtype=int))
    assert result.labels.shape == (0,)
