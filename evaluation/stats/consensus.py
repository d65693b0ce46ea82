"""Consensus and chance: the threshold rule on vote tables, the normalised label fractions, and what the rule gives
when every vote is random.

References: Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical inference", JASA 22,
209-212 (the score interval of a share); the exact chance baseline enumerates the multinomial distribution of the
votes (Johnson, Kotz & Balakrishnan (1997), "Discrete Multivariate Distributions", ch. 35).

A vote table is an integer array of shape (images, 4): how many annotators gave each image each
label, in the paper's order L1 creative, L2 novel but not creative, L3 not novel or creative,
L4 inconclusive. Raw labels (for Dawid-Skene and per-annotator figures) are parallel integer arrays
(image index, annotator index, label index).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

N_LABELS = 4
NO_CONSENSUS = -1


class TiePolicy(StrEnum):
    """What happens when more than one label reaches the threshold (3/3/3, 4/3/2, 3/3/2/1 ...).

    With 9 votes over 4 labels, at least one label always reaches 3 and up to three can, so this
    choice is part of every result and is stored with every report.
    """

    # Among labels at or above the threshold, the one with the most votes wins (4/3/2 -> the 4);
    # a tie for the most votes (3/3/3, 3/3/2/1, 4/4/1) gives no consensus.
    PLURALITY_OR_NONE = "plurality_or_none"
    # As above, but a tie for the most votes counts as L4 "inconclusive": the annotators disagreed.
    PLURALITY_OR_INCONCLUSIVE = "plurality_or_inconclusive"
    # Consensus only when exactly one label reaches the threshold (4/3/2 gives no consensus).
    UNIQUE_OR_NONE = "unique_or_none"


TIE_POLICY_TEXT = {
    TiePolicy.PLURALITY_OR_NONE: "Among labels reaching the threshold the one with the most votes wins; "
    "a tie for the most votes gives no consensus.",
    TiePolicy.PLURALITY_OR_INCONCLUSIVE: "Among labels reaching the threshold the one with the most votes wins; "
    "a tie for the most votes counts as L4 (inconclusive).",
    TiePolicy.UNIQUE_OR_NONE: "Consensus only when exactly one label reaches the threshold; otherwise none.",
}


@dataclass(frozen=True)
class Consensus:
    labels: np.ndarray  # (n,) label index, or NO_CONSENSUS
    votes: np.ndarray  # (n,) number of votes the image has
    # (n,) bool: several labels reached the threshold (4/3/2 as well as 3/3/3): the tie policy was consulted
    several: np.ndarray
    # (n,) bool: several labels reached the threshold *and* tied for the most votes (3/3/3, 4/4/1, 3/3/2/1)
    tied_top: np.ndarray


def as_vote_table(counts) -> np.ndarray:
    table = np.asarray(counts, dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != N_LABELS:
        raise ValueError(f"a vote table has shape (images, {N_LABELS}); got {table.shape}")
    if (table < 0).any():
        raise ValueError("vote counts cannot be negative")
    return table


def consensus(counts, threshold: int = 3, tie_policy: TiePolicy | str = TiePolicy.PLURALITY_OR_NONE) -> Consensus:
    """The consensus label of each image under the `threshold`-votes rule and the tie policy."""
    table = as_vote_table(counts)
    if threshold < 1:
        raise ValueError("the agreement threshold must be at least 1")
    labels, several, tied_top = _decide(table, table >= threshold, TiePolicy(tie_policy))
    return Consensus(labels=labels, votes=table.sum(axis=1), several=several, tied_top=tied_top)


def _decide(table: np.ndarray, reaches: np.ndarray, policy: TiePolicy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rule on vote tables of any leading shape (..., 4), given which labels reach the threshold."""
    n_reaching = reaches.sum(axis=-1)
    masked = np.where(reaches, table, -1)
    top = masked.max(axis=-1, initial=-1)
    n_top = (masked == top[..., None]).sum(axis=-1)
    labels = np.where(n_reaching >= 1, masked.argmax(axis=-1), NO_CONSENSUS)
    several = n_reaching >= 2
    tied_top = (n_reaching >= 1) & (n_top >= 2)
    if policy is TiePolicy.UNIQUE_OR_NONE:
        labels = np.where(several, NO_CONSENSUS, labels)
    else:
        fallback = NO_CONSENSUS if policy is TiePolicy.PLURALITY_OR_NONE else N_LABELS - 1
        labels = np.where(tied_top, fallback, labels)
    return labels.astype(np.int64), several, tied_top


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(count: int, nobs: int, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval for count/nobs (statsmodels); None when there is nothing to estimate."""
    if nobs <= 0:
        return None
    low, high = proportion_confint(count, nobs, alpha=1 - confidence, method="wilson")
    # Rounding can leave 1 - 1e-16 as the upper end of 10/10; the interval always holds the estimate.
    p = count / nobs
    return Interval(float(min(max(low, 0.0), p)), float(max(min(high, 1.0), p)))


@dataclass(frozen=True)
class LabelFractions:
    n_images: int
    n_consensus: int
    n_no_consensus: int
    n_several: int  # images where several labels reached the threshold (the tie policy was consulted)
    n_tied_top: int  # of those, images where they tied for the most votes (4/3/2 is not one)
    n_incomplete: int  # images with fewer votes than annotators_per_image
    counts: tuple[int, ...]  # consensus images per label
    fractions: tuple[float | None, ...]  # counts / n_consensus (None when no image has a consensus)
    intervals: tuple[Interval | None, ...]


def label_fractions(result: Consensus, expected_votes: int, confidence: float = 0.95) -> LabelFractions:
    """The paper's normalised fractions: of the images with a consensus, the share with each label."""
    labels = result.labels
    have = labels != NO_CONSENSUS
    n_consensus = int(have.sum())
    counts = tuple(int((labels == k).sum()) for k in range(N_LABELS))
    fractions = tuple((c / n_consensus) if n_consensus else None for c in counts)
    intervals = tuple(wilson_interval(c, n_consensus, confidence) for c in counts)
    return LabelFractions(
        n_images=len(labels),
        n_consensus=n_consensus,
        n_no_consensus=len(labels) - n_consensus,
        n_several=int(result.several.sum()),
        n_tied_top=int(result.tied_top.sum()),
        n_incomplete=int((result.votes < expected_votes).sum()),
        counts=counts,
        fractions=fractions,
        intervals=intervals,
    )


def vote_table(items: np.ndarray, labels: np.ndarray, n_items: int) -> np.ndarray:
    """Raw labels -> vote table (images, 4)."""
    table = np.zeros((n_items, N_LABELS), dtype=np.int64)
    np.add.at(table, (np.asarray(items, dtype=np.int64), np.asarray(labels, dtype=np.int64)), 1)
    return table


def chance_reach_probability(raters: int = 9, threshold: int = 3, n_labels: int = N_LABELS) -> float:
    """P(a given label gets >= threshold of `raters` votes) when every vote is uniform at random."""
    return float(sps.binom.sf(threshold - 1, raters, 1 / n_labels))


@functools.lru_cache(maxsize=256)
def chance_consensus(
    raters: int = 9, threshold: int = 3, tie_policy: TiePolicy | str = TiePolicy.PLURALITY_OR_NONE,
    abstain: bool = False,
) -> tuple[tuple[float, ...], float]:
    """Exact outcome distribution of the rule under uniform random votes: (P(label k) for k in L1..L4, P(none)).

    Enumerates every split of the votes over the four labels (220 for 9 votes) with its multinomial
    probability, so the tie policy is applied exactly as for real images. With `abstain`, a random annotator
    still picks each of the four labels with probability 1/4, and the L4 votes are then left out before the rule
    (as for real images): L4 can never be the consensus (except as the plurality_or_inconclusive fallback).
    """
    splits = [c for c in itertools.product(range(raters + 1), repeat=N_LABELS) if sum(c) == raters]
    table = np.array(splits, dtype=np.int64).reshape(-1, N_LABELS)
    probs = sps.multinomial.pmf(table, n=raters, p=[1 / N_LABELS] * N_LABELS) if raters else np.ones(1)
    if abstain:
        table = table.copy()
        table[:, N_LABELS - 1] = 0
    labels = consensus(table, threshold, tie_policy).labels
    per_label = tuple(float(probs[labels == k].sum()) for k in range(N_LABELS))
    return per_label, float(probs[labels == NO_CONSENSUS].sum())


@dataclass(frozen=True)
class ChanceBaseline:
    """What the rule gives when every annotator picks a label at random, for the images' actual votes."""

    reach: tuple[float, ...]  # P(label k gets at least the threshold), L1..L4
    labels: tuple[float, ...]  # P(label k is the consensus)
    none: float  # P(no consensus)
    among_consensus: tuple[float | None, ...]  # P(label k | a consensus): comparable with the fractions
    votes: dict[int, int]  # images per number of votes cast (the baseline averages over them)
    abstain: bool


def chance_baseline(
    cast_votes, threshold: int, tie_policy: TiePolicy | str, *, abstain: bool, default_raters: int
) -> ChanceBaseline:
    """The exact baseline averaged over the images, each with the number of votes it actually has.

    `cast_votes`: per image, the votes cast on it (L4 included, before an abstention is left out). Without
    images (nothing labelled yet), the campaign's `default_raters` per image.
    """
    cast = [int(v) for v in cast_votes] or [default_raters]
    tally: dict[int, int] = {}
    for v in cast:
        tally[v] = tally.get(v, 0) + 1
    reach, per_label, none = np.zeros(N_LABELS), np.zeros(N_LABELS), 0.0
    for v, n in tally.items():
        p = chance_reach_probability(v, threshold)
        reach += n * np.array([p] * (N_LABELS - 1) + [0.0 if abstain else p])
        labels, nothing = chance_consensus(v, threshold, TiePolicy(tie_policy), abstain)
        per_label += n * np.array(labels)
        none += n * nothing
    total = len(cast)
    reach, per_label, none = reach / total, per_label / total, none / total
    have = 1 - none
    return ChanceBaseline(
        reach=tuple(float(x) for x in reach),
        labels=tuple(float(x) for x in per_label),
        none=float(none),
        among_consensus=tuple(float(x / have) if have > 0 else None for x in per_label),
        votes=dict(sorted(tally.items())) if cast_votes is not None and len(cast_votes) else {},
        abstain=abstain,
    )
