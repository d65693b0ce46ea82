"""Agreement among annotators: Fleiss' kappa over the images with all their votes, Krippendorff's alpha over all.

References: Fleiss, J. L. (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin 76(5),
378-382; Krippendorff, K. (2011), "Computing Krippendorff's alpha-reliability", University of Pennsylvania, and
Hayes, A. F. & Krippendorff, K. (2007), "Answering the call for a standard reliability measure for coding data",
Communication Methods and Measures 1(1), 77-89. Computed by statsmodels and the krippendorff package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import krippendorff
import numpy as np
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from .consensus import N_LABELS, NO_CONSENSUS, TiePolicy, as_vote_table, consensus


def fleiss_kappa(counts, raters: int | None = None) -> float | None:
    """Fleiss' kappa (statsmodels) over the images with exactly `raters` votes (default: the most common count).

    Fleiss' kappa needs the same number of raters per image, so images with fewer labels are left out;
    Krippendorff's alpha below uses them all. None when undefined (under two images, or one category only).
    """
    table = as_vote_table(counts)
    if raters is None:
        sums = table.sum(axis=1)
        sums = sums[sums >= 2]
        if not len(sums):
            return None
        raters = int(np.bincount(sums).argmax())
    table = table[table.sum(axis=1) == raters]
    if len(table) < 2 or raters < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(sm_fleiss_kappa(table, method="fleiss"))
    return value if math.isfinite(value) else None


def krippendorff_alpha(counts) -> float | None:
    """Nominal Krippendorff's alpha (krippendorff package); images with fewer than two votes carry no pairs."""
    table = as_vote_table(counts)
    table = table[table.sum(axis=1) >= 2]
    if len(table) < 1 or (table.sum(axis=0) > 0).sum() < 2:
        return None  # no pairable values, or a single category: expected disagreement is zero
    value = float(krippendorff.alpha(value_counts=table, level_of_measurement="nominal"))
    return value if math.isfinite(value) else None


# Fleiss' kappa from fewer images than this is not shown: with a handful of images its value says little, and its
# bootstrap interval is degenerate. Krippendorff's alpha is always shown (with its counts).
MIN_KAPPA_IMAGES = 10


@dataclass(frozen=True)
class Agreement:
    """Kappa and alpha with what they were computed over: images, votes, and why a figure is left out."""

    raters: int
    kappa: float | None
    kappa_images: int  # images with exactly `raters` votes (Fleiss' kappa needs equal votes per image)
    kappa_votes: int
    kappa_note: str  # why kappa is not shown ("" when it is)
    alpha: float | None
    alpha_images: int  # images with at least two votes (the others carry no pairs)
    alpha_votes: int
    alpha_note: str

    @property
    def headline(self) -> str:
        """The figure to read: alpha when kappa is left out or would drop images that have fewer votes."""
        return "kappa" if self.kappa is not None and self.kappa_images == self.alpha_images else "alpha"


def agreement(counts, raters: int) -> Agreement:
    table = as_vote_table(counts)
    votes = table.sum(axis=1)
    complete = votes == raters
    n_complete = int(complete.sum())
    kappa, kappa_note = None, ""
    if n_complete < MIN_KAPPA_IMAGES:
        kappa_note = (f"not shown: {n_complete} image{'s' if n_complete != 1 else ''} with all {raters} votes "
                      f"(kappa is shown from {MIN_KAPPA_IMAGES})")
    else:
        kappa = fleiss_kappa(table[complete], raters=raters)
        if kappa is None:
            kappa_note = "undefined: a single label was given"
    pairable = votes >= 2
    alpha = krippendorff_alpha(table[pairable]) if pairable.any() else None
    alpha_note = "" if alpha is not None else ("no image has two votes" if not pairable.any()
                                               else "undefined: a single label was given")
    return Agreement(
        raters=raters, kappa=kappa, kappa_images=n_complete, kappa_votes=int(votes[complete].sum()), kappa_note=kappa_note,
        alpha=alpha, alpha_images=int(pairable.sum()), alpha_votes=int(votes[pairable].sum()), alpha_note=alpha_note,
    )


def leave_one_out_agreement(
    table, items: np.ndarray, labels: np.ndarray, counted: np.ndarray, threshold: int, tie_policy: TiePolicy | str
) -> tuple[np.ndarray, np.ndarray]:
    """For each label: does it match the consensus of the *other* votes on its image, and do they have one?

    Agreement with a consensus that includes one's own vote flatters everybody (3 of 9 is a third of the
    work); taking the vote out first is the honest figure. `counted` says whether each label is in
    `table` (an excluded annotator's label is not, so nothing is taken out).
    """
    table = as_vote_table(table)
    items = np.asarray(items, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    own = np.eye(N_LABELS, dtype=np.int64)[labels] * np.asarray(counted, dtype=np.int64)[:, None]
    others = consensus(table[items] - own, threshold, tie_policy).labels
    has = others != NO_CONSENSUS
    return has & (others == labels), has
