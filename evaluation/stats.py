"""Pure statistics of a labeling campaign: vote tables in, numbers out. No Django here.

A vote table is an integer array of shape (images, 4): how many annotators gave each image each
label, in the paper's order L1 creative, L2 novel but not creative, L3 not novel or creative,
L4 inconclusive. Raw labels (for Dawid-Skene and per-annotator figures) are parallel integer arrays
(image index, annotator index, label index).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import krippendorff
import numpy as np
from scipy import sparse
from scipy import stats as sps
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
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


def percentile_interval(values: np.ndarray, confidence: float) -> Interval | None:
    """Percentile interval of the finite bootstrap values; None when under half of them are defined."""
    finite = values[np.isfinite(values)]
    if len(values) == 0 or len(finite) < len(values) / 2:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class GroupBootstrap:
    """Two-way bootstrap intervals of one group of images (a scheme, or all of them)."""

    fractions: tuple[Interval | None, ...]  # share of the consensus images with each label
    no_consensus: Interval | None  # share of the images without a consensus
    kappa: Interval | None
    alpha: Interval | None


@dataclass(frozen=True)
class TwoWayBootstrap:
    resamples: int
    seed: int
    groups: dict[str, GroupBootstrap]
    # interval of (L1 fraction of `target`) - (L1 fraction of each baseline)
    differences: dict[str, Interval | None]
    # interval of the AUC of each (metric, class) over the images with a consensus and a value of the metric
    aucs: dict[tuple[str, str], Interval | None] = field(default_factory=dict)


def _score_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images with a finite score, by increasing score, and where each run of equal scores starts among them."""
    finite = np.flatnonzero(np.isfinite(values))
    index = finite[np.argsort(values[finite], kind="stable")]
    ordered = values[index]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(index) else np.zeros(0, dtype=np.int64)
    return index, starts


def _weighted_auc(positive: np.ndarray, negative: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Image-weighted Mann-Whitney AUC per resample: sum over positive i, negative j of w_i w_j ([s_i > s_j] +
    [s_i == s_j] / 2) / (W_pos W_neg), NaN without both classes.

    `positive` and `negative` (resamples, images) are the images' weights in each class, the images by increasing
    score; `starts` begins each run of tied scores. Per run of ties: its positive weight times (the negative weight
    of the runs below + half its own), from cumulative sums, so no loop over images.
    """
    pos = np.add.reduceat(positive, starts, axis=1)  # (b, runs)
    neg = np.add.reduceat(negative, starts, axis=1)
    below = np.cumsum(neg, axis=1)
    below = np.concatenate([np.zeros((len(neg), 1)), below[:, :-1]], axis=1)  # strictly lower scores
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def two_way_bootstrap(
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    n_items: int,
    n_annotators: int,
    groups: dict[str, np.ndarray],
    *,
    raters: int,
    threshold: int,
    tie_policy: TiePolicy | str,
    target: str | None = None,
    baselines: tuple[str, ...] = (),
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 100,
    weights: tuple[np.ndarray, np.ndarray] | None = None,
    scores: Mapping[str, np.ndarray] | None = None,
    auc_targets: Mapping[str, tuple[int, ...]] | None = None,
) -> TwoWayBootstrap:
    """Percentile intervals that resample annotators and images together (Owen's pigeonhole bootstrap).

    Each resample draws the images with replacement (weights w_i) and, independently, the annotators (weights
    v_a): a vote of annotator a on image i then counts v_a times, in an image counted w_i times. The same
    annotators label many images, so resampling images alone would treat their votes as independent and give
    intervals that are too narrow. An image's votes change with the draw, so its threshold is kept in proportion
    (t * resampled votes / its votes: with every weight 1 that is the rule itself). Kappa and alpha leave out
    the pairs of an annotator drawn twice with itself. `groups` maps a name to a boolean mask over the images.
    Everything is matrix products over chunks of resamples: one pass for all the figures. `weights` (image
    weights (B, images), annotator weights (B, annotators)) replaces the random draw, for the tests.

    `scores` (metric name -> per-image values, NaN where an image has none) and `auc_targets` (class name -> the
    labels that are positive) add the interval of each metric's AUC for each class: in every resample, over the
    images with a consensus *in that resample* and a value, each weighted by w_i (the image-weighted Mann-Whitney
    U over positives x negatives, ties one half). The annotator draw moves the consensus, hence the classes; a
    resample without both classes has no AUC and is left out (the interval is None when under half have one).
    """
    policy = TiePolicy(tie_policy)
    scores = {name: np.asarray(values, dtype=float) for name, values in (scores or {}).items()}
    auc_targets = {name: tuple(int(k) for k in classes) for name, classes in (auc_targets or {}).items()}
    for name, values in scores.items():
        if values.shape != (n_items,):
            raise ValueError(f"the scores of {name!r} have shape {values.shape}; expected one per image ({n_items},)")
    for name, classes in auc_targets.items():
        if not classes or not set(classes) <= set(range(N_LABELS)):
            raise ValueError(f"the AUC target {name!r} needs labels among 0..{N_LABELS - 1}; got {classes}")
    auc_keys = [(metric, target) for metric in scores for target in auc_targets]
    items = np.asarray(items, dtype=np.int64)
    annotators = np.asarray(annotators, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    base = vote_table(items, labels, n_items).astype(float)
    votes = base.sum(axis=1)
    rng = np.random.default_rng(seed)
    if n_items == 0 or n_annotators == 0:
        return TwoWayBootstrap(0, seed, {name: GroupBootstrap((None,) * N_LABELS, None, None, None) for name in groups}, {},
                               dict.fromkeys(auc_keys))
    if weights is not None:
        image_w, annot_w = (np.asarray(w, dtype=float) for w in weights)
        resamples = len(image_w)
    else:
        image_w = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=resamples).astype(float)
        annot_w = rng.multinomial(n_annotators, np.full(n_annotators, 1 / n_annotators), size=resamples).astype(float)
    ones = np.ones(len(labels))
    # (items, annotators) incidence per label: the resampled vote table is one product per label.
    by_label = [
        sparse.csr_matrix((ones[labels == k], (items[labels == k], annotators[labels == k])), shape=(n_items, n_annotators))
        for k in range(N_LABELS)
    ]
    incidence = sum(by_label)
    complete = votes == raters
    pairable = votes >= 2
    member = np.stack([np.asarray(mask, dtype=float) for mask in groups.values()], axis=1)  # (items, groups)
    fr = np.full((resamples, len(groups), N_LABELS), np.nan)
    nc, kp, al = (np.full((resamples, len(groups)), np.nan) for _ in range(3))
    orders = {name: _score_order(values) for name, values in scores.items()}  # the scores never change: sort once
    au = {key: np.full(resamples, np.nan) for key in auc_keys}
    with np.errstate(divide="ignore", invalid="ignore"):
        threshold_share = np.where(votes > 0, threshold / votes, np.inf)
        for start in range(0, resamples, chunk):
            v = annot_w[start:start + chunk]
            w = image_w[start:start + chunk]
            table = np.stack([np.asarray(m @ v.T).T for m in by_label], axis=-1)  # (b, items, 4)
            self_pairs = np.asarray(incidence @ (v * v).T).T  # (b, items): sum of v_a^2 over the image's annotators
            m = table.sum(axis=-1)
            reaches = table >= (threshold_share * m)[..., None] - 1e-9
            reaches &= table > 0
            decided, _, _ = _decide(table, reaches, policy)
            squares = (table * table).sum(axis=-1)
            pairs = m * m - self_pairs
            agree = np.where(pairs > 0, (squares - self_pairs) / pairs, np.nan)
            disagree = np.where(pairs > 0, (m * m - squares) * m / pairs, 0.0)
            onehot = (decided[..., None] == np.arange(N_LABELS)).astype(float)
            valid = np.isfinite(agree)
            wk = w * complete  # Fleiss' kappa: the images with all their votes (pairs of distinct annotators)
            # Krippendorff's alpha: the images with a pair of votes from two distinct drawn annotators (an image left
            # with one annotator, drawn twice, has no pair and, as in the standard alpha, leaves the marginals too)
            wa = w * pairable * (pairs > 0)

            def by_group(per_image: np.ndarray) -> np.ndarray:
                """Sums over each group's images: (b, items[, 4]) -> (b, groups[, 4]), one matrix product."""
                if per_image.ndim == 2:
                    return per_image @ member
                return np.matmul(per_image.transpose(0, 2, 1), member).transpose(0, 2, 1)

            counts = by_group(w[..., None] * onehot)  # (b, g, 4)
            n_cons = counts.sum(axis=2)
            p_bar = by_group(wk * np.where(valid, agree, 0)) / by_group(wk * valid)
            p_cat = by_group(wk[..., None] * table) / by_group(wk * m)[..., None]
            p_e = (p_cat**2).sum(axis=2)
            n_c = by_group(wa[..., None] * table)
            n = n_c.sum(axis=2)
            rows = slice(start, start + chunk)
            fr[rows] = counts / n_cons[..., None]
            nc[rows] = 1 - n_cons / (w @ member)
            kp[rows] = (p_bar - p_e) / (1 - p_e)
            al[rows] = 1 - (n - 1) * by_group(wa * disagree) / (n * n - (n_c**2).sum(axis=2))
            have = decided != NO_CONSENSUS
            for auc_target, classes in auc_targets.items():  # not `target`: that is the scheme compared below
                positive = np.isin(decided, classes)
                pos_w, neg_w = w * positive, w * (have & ~positive)
                for metric, (index, starts) in orders.items():
                    if len(index):
                        au[(metric, auc_target)][rows] = _weighted_auc(pos_w[:, index], neg_w[:, index], starts)
    out = {
        name: GroupBootstrap(
            fractions=tuple(percentile_interval(fr[:, g, k], confidence) for k in range(N_LABELS)),
            no_consensus=percentile_interval(nc[:, g], confidence),
            kappa=percentile_interval(kp[:, g], confidence),
            alpha=percentile_interval(al[:, g], confidence),
        )
        for g, name in enumerate(groups)
    }
    differences = {}
    if target in groups:
        names = list(groups)
        for name in baselines:
            if name in groups:
                diff = fr[:, names.index(target), 0] - fr[:, names.index(name), 0]
                differences[name] = percentile_interval(diff, confidence)
    aucs = {key: percentile_interval(values, confidence) for key, values in au.items()}
    return TwoWayBootstrap(resamples, seed, out, differences, aucs)


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


@dataclass(frozen=True)
class DawidSkene:
    posteriors: np.ndarray  # (images, 4)
    labels: np.ndarray  # (images,) argmax of the posteriors, NO_CONSENSUS for images without labels
    priors: np.ndarray  # (4,)
    confusion: np.ndarray  # (annotators, 4 true, 4 given)
    iterations: int
    converged: bool
    lower_bound: float | None  # the evidence lower bound per vote at the end (what the stopping rule watches)


DS_MAX_ITER = 100
DS_TOL = 1e-5
DS_EPS = 1e-10
# The report's prior on each annotator's confusion matrix: per true label, Dirichlet pseudo-votes, DS_PRIOR_RIGHT on
# that label and DS_PRIOR_WRONG spread evenly over the others (a prior mean of "right half the time", twice chance).
# Per scheme an annotator casts some 17 votes, about 4 per true label: 2 pseudo-votes per label weigh a third, so a
# matrix fitted from a handful of votes no longer makes every posterior near certain.
DS_PRIOR_RIGHT = 1.0
DS_PRIOR_WRONG = 1.0
# Posteriors this close to the largest are an exact tie: the image is shared equally among the tied labels.
DS_TIE = 1e-9


def ds_prior(n_labels: int, right: float = DS_PRIOR_RIGHT, wrong: float = DS_PRIOR_WRONG) -> np.ndarray:
    """Pseudo-votes (given, true) added to every annotator's confusion counts: `right` on the diagonal, `wrong`
    spread evenly over the other given labels of each true label (as crowd-kit's initial_error "addition")."""
    if n_labels == 1:
        return np.full((1, 1), right)
    return np.where(np.eye(n_labels, dtype=bool), right, wrong / (n_labels - 1))


def ds_shares(posteriors: np.ndarray, labelled: np.ndarray, tie: float = DS_TIE) -> tuple[np.ndarray, np.ndarray]:
    """Each labelled image's Dawid-Skene label as shares (images, 4): 1 for its most probable label, or split equally
    among labels whose posteriors tie for the largest (none goes to the lower label); and which images tied."""
    top = posteriors.max(axis=1, keepdims=True)
    tied_top = (posteriors >= top - tie) & labelled[:, None]
    n_top = tied_top.sum(axis=1)
    return np.where(n_top[:, None] > 0, tied_top / np.maximum(n_top, 1)[:, None], 0.0), n_top >= 2


def dawid_skene(
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    n_items: int,
    n_annotators: int,
    *,
    max_iter: int = DS_MAX_ITER,
    tol: float = DS_TOL,
    prior: tuple[float, float] | None = None,
) -> DawidSkene:
    """Dawid & Skene (1979) EM, step for step as crowd-kit's `crowdkit.aggregation.DawidSkene` (1.4).

    Started from the vote shares (majority vote's probabilities); the class priors are the mean posterior; each
    annotator's confusion matrix is estimated from the posteriors with no smoothing (a cell with no evidence is
    clipped at 1e-10, as crowd-kit does); EM stops when the evidence lower bound per vote gains less than `tol`
    (1e-5), else after `max_iter` (100) iterations, which is reported as not converged. Only the labels given
    take part (a label nobody gave has posterior 0). The tests compare it with crowd-kit itself.

    `prior` (right, wrong): Dirichlet pseudo-votes (`ds_prior`) added to every annotator's confusion counts at each
    M-step (maximum a posteriori EM): a cell without evidence keeps its prior share instead of 1e-10.
    """
    items = np.asarray(items, dtype=np.int64)
    annotators = np.asarray(annotators, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    m = len(labels)
    empty = np.zeros((n_items, N_LABELS))
    if m == 0 or n_items == 0:
        return DawidSkene(empty, np.full(n_items, NO_CONSENSUS, dtype=np.int64), np.full(N_LABELS, 1 / N_LABELS),
                          np.zeros((n_annotators, N_LABELS, N_LABELS)), 0, True, None)
    used = np.flatnonzero(np.bincount(labels, minlength=N_LABELS))  # the label set, as crowd-kit's columns
    code = np.full(N_LABELS, -1)
    code[used] = np.arange(len(used))
    given = code[labels]
    c = len(used)
    has = np.bincount(items, minlength=n_items) > 0
    task = np.cumsum(has) - 1  # crowd-kit keeps only the images with labels
    t = task[items]
    n_tasks = int(has.sum())
    ones = np.ones(m)
    by_task = sparse.csr_matrix((ones, (t, np.arange(m))), shape=(n_tasks, m))
    pair = annotators * c + given
    by_pair = sparse.csr_matrix((ones, (pair, np.arange(m))), shape=(n_annotators * c, m))
    # The labels each annotator gave (with a prior: every label, which the pseudo-votes give them all).
    present = (np.bincount(pair, minlength=n_annotators * c).reshape(n_annotators, c) > 0) | (prior is not None)
    pseudo = np.zeros((c, c)) if prior is None else ds_prior(c, *prior)

    def m_step(post: np.ndarray) -> np.ndarray:
        """errors[a, given, true]: counts (plus the prior) clipped at EPS where the annotator gave that label (with a
        prior: every label), normalised per true label."""
        counts = np.asarray(by_pair @ post[t]).reshape(n_annotators, c, c) + pseudo[None]
        counts = np.where(present[:, :, None], np.clip(counts, DS_EPS, None), 0.0)
        return counts / counts.sum(axis=1, keepdims=True)

    with np.errstate(divide="ignore", invalid="ignore"):
        post = np.asarray(by_task @ np.eye(c)[given])
        post /= post.sum(axis=1, keepdims=True)
        priors = post.mean(axis=0)
        errors = m_step(post)
        bound, iterations, converged = -np.inf, 0, False
        for _ in range(max_iter):
            iterations += 1
            log_err = np.log(errors[annotators, given, :])  # (votes, true)
            log_prior = np.log(np.clip(priors, DS_EPS, None))
            log_post = log_prior + np.asarray(by_task @ log_err)
            log_post -= log_post.max(axis=1, keepdims=True)
            post = np.exp(log_post)
            post /= post.sum(axis=1, keepdims=True)
            priors = post.mean(axis=0)
            errors = m_step(post)
            # crowd-kit's evidence lower bound, per vote: E[log p(votes, truth)] + entropy of the posteriors.
            joint = (post[t] * (np.log(errors[annotators, given, :]) + np.log(np.clip(priors, DS_EPS, None)))).sum()
            clipped = np.clip(post, DS_EPS, None)
            new_bound = float(joint - (np.log(clipped) * clipped).sum()) / m
            if new_bound - bound < tol:
                converged = True
                bound = new_bound
                break
            bound = new_bound
    return _on_every_label(post, priors, errors, has, used, (iterations, converged, bound))


def _on_every_label(post: np.ndarray, priors: np.ndarray, errors: np.ndarray, has: np.ndarray, used: np.ndarray,
                    fit: tuple[int, bool, float]) -> DawidSkene:
    """A fit over the labelled images and the labels given, spread back over every image and all four labels."""
    n_annotators = len(errors)
    full_post = np.zeros((len(has), N_LABELS))
    full_post[np.ix_(has, used)] = post
    full_priors = np.zeros(N_LABELS)
    full_priors[used] = priors
    confusion = np.zeros((n_annotators, N_LABELS, N_LABELS))
    confusion[np.ix_(np.arange(n_annotators), used, used)] = errors.transpose(0, 2, 1)
    out = np.where(has, full_post.argmax(axis=1), NO_CONSENSUS)
    return DawidSkene(full_post, out.astype(np.int64), full_priors, confusion, *fit)


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


def vote_table(items: np.ndarray, labels: np.ndarray, n_items: int) -> np.ndarray:
    """Raw labels -> vote table (images, 4)."""
    table = np.zeros((n_items, N_LABELS), dtype=np.int64)
    np.add.at(table, (np.asarray(items, dtype=np.int64), np.asarray(labels, dtype=np.int64)), 1)
    return table


# --- Surrogate metrics against the human consensus ---------------------------------------------------------------


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
