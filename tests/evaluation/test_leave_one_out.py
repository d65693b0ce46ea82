"""Agreement of a label with the consensus of the other votes on its image."""

import numpy as np

from evaluation.stats import leave_one_out_agreement

TABLE = np.array([[9, 0, 0, 0], [4, 4, 1, 0], [3, 3, 3, 0], [2, 1, 1, 0]])


def test_it_takes_the_own_vote_out():
    items = np.array([0, 1, 1, 2, 3])
    labels = np.array([0, 0, 2, 1, 0])
    counted = np.array([True, True, True, True, False])
    hit, has = leave_one_out_agreement(TABLE, items, labels, counted, 3, "plurality_or_none")
    # [8,0,0,0] -> L1 (agree); [3,4,1,0] -> L2 (disagree); [4,4,0,0] -> tie (none);
    # [3,2,3,0] -> tie (none); an uncounted vote on [2,1,1,0] -> nothing reaches 3 (none).
    assert has.tolist() == [True, True, False, False, False]
    assert hit.tolist() == [True, False, False, False, False]


def test_it_leaves_uncounted_votes_in_place():
    hit, has = leave_one_out_agreement(TABLE, np.array([2]), np.array([1]), np.array([False]), 3, "plurality_or_inconclusive")
    assert has.tolist() == [True] and hit.tolist() == [False]  # 3/3/3 tie -> L4 under this policy
