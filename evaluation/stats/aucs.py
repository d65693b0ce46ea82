"""Surrogate metrics against the human consensus: the area under the ROC curve.

References: Mann, H. B. & Whitney, D. R. (1947), "On a test of whether one of two random variables is stochastically
larger than the other", Annals of Mathematical Statistics 18(1), 50-60; Hanley, J. A. & McNeil, B. J. (1982), "The
meaning and use of the area under a receiver operating characteristic (ROC) curve", Radiology 143(1), 29-36.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps


def auc(scores, positive) -> float | None:
    """Area under the ROC curve of `scores` for telling the `positive` images from the rest: the Mann-Whitney
    U of the positives over (positives x negatives), ties counting one half. None without both classes."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    u = sps.mannwhitneyu(scores[positive], scores[~positive], alternative="two-sided").statistic
    return float(u) / (n_pos * n_neg)
