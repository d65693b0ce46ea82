"""Figures written out vote by vote, for the tests to compare the vectorised statistics with."""

from __future__ import annotations

import numpy as np

from evaluation import stats


def resampled_consensus(items, annotators, labels, n_items, v) -> list[int]:
    """Each image's consensus from the votes written out one by one (annotator a's vote counts v[a] times; the
    threshold stays a third of the votes; plurality among the labels reaching it, a tie for the most gives none)."""
    out = []
    for i in range(n_items):
        votes = np.zeros(4)
        for a, lab in zip(annotators[items == i], labels[items == i], strict=True):
            votes[lab] += v[a]
        reach = [k for k in range(4) if votes[k] > 0 and votes[k] * 9 >= 3 * votes.sum()]
        top = [k for k in reach if votes[k] == max(votes[r] for r in reach)]
        out.append(top[0] if len(top) == 1 else stats.NO_CONSENSUS)
    return out
