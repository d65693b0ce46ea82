"""Resampling: the two-way (annotators x images) percentile bootstrap of every figure of a report.

References: Owen, A. B. (2007), "The pigeonhole bootstrap", Annals of Applied Statistics 1(2), 386-411 (resampling
both crossed factors); Efron, B. & Tibshirani, R. J. (1993), "An Introduction to the Bootstrap", ch. 13 (percentile
intervals); Mann, H. B. & Whitney, D. R. (1947), Annals of Mathematical Statistics 18(1), 50-60 (the AUC as U).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .consensus import N_LABELS, NO_CONSENSUS, Interval, TiePolicy, _decide, vote_table


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
    scores, auc_targets = _checked_scores(scores, auc_targets, n_items)
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
    image_w, annot_w = _draw_weights(rng, weights, n_items, n_annotators, resamples)
    resamples = len(image_w)
    design = _design(items, annotators, labels, n_items, n_annotators, votes, raters, groups)
    figures = _Figures.empty(resamples, len(groups), auc_keys)
    orders = {name: _score_order(values) for name, values in scores.items()}  # the scores never change: sort once
    with np.errstate(divide="ignore", invalid="ignore"):
        threshold_share = np.where(votes > 0, threshold / votes, np.inf)
        for start in range(0, resamples, chunk):
            rows = slice(start, start + chunk)
            _resample_chunk(design, figures, rows, annot_w[rows], image_w[rows], threshold_share, policy, orders,
                            auc_targets)
    return _percentile_intervals(figures, groups, target, baselines, confidence, resamples, seed)


def _checked_scores(
    scores: Mapping[str, np.ndarray] | None, auc_targets: Mapping[str, tuple[int, ...]] | None, n_items: int,
) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, ...]]]:
    """The metric scores (one per image) and the AUC targets (labels among 0..3), as arrays and tuples, checked."""
    scores = {name: np.asarray(values, dtype=float) for name, values in (scores or {}).items()}
    auc_targets = {name: tuple(int(k) for k in classes) for name, classes in (auc_targets or {}).items()}
    for name, values in scores.items():
        if values.shape != (n_items,):
            raise ValueError(f"the scores of {name!r} have shape {values.shape}; expected one per image ({n_items},)")
    for name, classes in auc_targets.items():
        if not classes or not set(classes) <= set(range(N_LABELS)):
            raise ValueError(f"the AUC target {name!r} needs labels among 0..{N_LABELS - 1}; got {classes}")
    return scores, auc_targets


def _draw_weights(rng: np.random.Generator, weights: tuple[np.ndarray, np.ndarray] | None, n_items: int,
                  n_annotators: int, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's image weights (B, images) and annotator weights (B, annotators): multinomial counts of a draw
    with replacement, or the given `weights`."""
    if weights is not None:
        image_w, annot_w = (np.asarray(w, dtype=float) for w in weights)
    else:
        image_w = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=resamples).astype(float)
        annot_w = rng.multinomial(n_annotators, np.full(n_annotators, 1 / n_annotators), size=resamples).astype(float)
    return image_w, annot_w


@dataclass(frozen=True)
class _Design:
    """What every resample shares: who voted what on which image, and which images each figure is over."""

    by_label: list  # per label, the (items, annotators) incidence of its votes: a resampled table is one product each
    incidence: object  # all the votes' incidence (items, annotators)
    complete: np.ndarray  # images with all their votes (Fleiss' kappa)
    pairable: np.ndarray  # images with two votes or more (Krippendorff's alpha)
    member: np.ndarray  # (items, groups) 0/1


def _design(items: np.ndarray, annotators: np.ndarray, labels: np.ndarray, n_items: int, n_annotators: int,
            votes: np.ndarray, raters: int, groups: dict[str, np.ndarray]) -> _Design:
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
    return _Design(by_label, incidence, complete, pairable, member)


@dataclass(frozen=True)
class _Figures:
    """Every resample's figures: label fractions (B, groups, 4), no-consensus share, kappa and alpha (B, groups), and
    the AUC of each (metric, class) (B,). NaN where a resample has none."""

    fr: np.ndarray
    nc: np.ndarray
    kp: np.ndarray
    al: np.ndarray
    au: dict[tuple[str, str], np.ndarray]

    @classmethod
    def empty(cls, resamples: int, n_groups: int, auc_keys: list[tuple[str, str]]) -> _Figures:
        fr = np.full((resamples, n_groups, N_LABELS), np.nan)
        nc, kp, al = (np.full((resamples, n_groups), np.nan) for _ in range(3))
        return cls(fr, nc, kp, al, {key: np.full(resamples, np.nan) for key in auc_keys})


def _by_group(per_image: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Sums over each group's images: (b, items[, 4]) -> (b, groups[, 4]), one matrix product."""
    if per_image.ndim == 2:
        return per_image @ member
    return np.matmul(per_image.transpose(0, 2, 1), member).transpose(0, 2, 1)


def _resample_chunk(design: _Design, figures: _Figures, rows: slice, v: np.ndarray, w: np.ndarray,
                    threshold_share: np.ndarray, policy: TiePolicy, orders: dict[str, tuple[np.ndarray, np.ndarray]],
                    auc_targets: dict[str, tuple[int, ...]]) -> None:
    """The figures of the resamples `rows` (annotator weights `v`, image weights `w`), written into `figures`."""
    member = design.member
    table = np.stack([np.asarray(m @ v.T).T for m in design.by_label], axis=-1)  # (b, items, 4)
    self_pairs = np.asarray(design.incidence @ (v * v).T).T  # (b, items): sum of v_a^2 over the image's annotators
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
    wk = w * design.complete  # Fleiss' kappa: the images with all their votes (pairs of distinct annotators)
    # Krippendorff's alpha: the images with a pair of votes from two distinct drawn annotators (an image left
    # with one annotator, drawn twice, has no pair and, as in the standard alpha, leaves the marginals too)
    wa = w * design.pairable * (pairs > 0)
    counts = _by_group(w[..., None] * onehot, member)  # (b, g, 4)
    n_cons = counts.sum(axis=2)
    p_bar = _by_group(wk * np.where(valid, agree, 0), member) / _by_group(wk * valid, member)
    p_cat = _by_group(wk[..., None] * table, member) / _by_group(wk * m, member)[..., None]
    p_e = (p_cat**2).sum(axis=2)
    n_c = _by_group(wa[..., None] * table, member)
    n = n_c.sum(axis=2)
    figures.fr[rows] = counts / n_cons[..., None]
    figures.nc[rows] = 1 - n_cons / (w @ member)
    figures.kp[rows] = (p_bar - p_e) / (1 - p_e)
    figures.al[rows] = 1 - (n - 1) * _by_group(wa * disagree, member) / (n * n - (n_c**2).sum(axis=2))
    have = decided != NO_CONSENSUS
    for auc_target, classes in auc_targets.items():  # not `target`: that is the scheme compared in the differences
        positive = np.isin(decided, classes)
        pos_w, neg_w = w * positive, w * (have & ~positive)
        for metric, (index, starts) in orders.items():
            if len(index):
                figures.au[(metric, auc_target)][rows] = _weighted_auc(pos_w[:, index], neg_w[:, index], starts)


def _percentile_intervals(figures: _Figures, groups: dict[str, np.ndarray], target: str | None,
                          baselines: tuple[str, ...], confidence: float, resamples: int, seed: int) -> TwoWayBootstrap:
    """The percentile interval of every figure over the resamples, and of the target's L1 share minus each
    baseline's."""
    fr = figures.fr
    out = {
        name: GroupBootstrap(
            fractions=tuple(percentile_interval(fr[:, g, k], confidence) for k in range(N_LABELS)),
            no_consensus=percentile_interval(figures.nc[:, g], confidence),
            kappa=percentile_interval(figures.kp[:, g], confidence),
            alpha=percentile_interval(figures.al[:, g], confidence),
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
    aucs = {key: percentile_interval(values, confidence) for key, values in figures.au.items()}
    return TwoWayBootstrap(resamples, seed, out, differences, aucs)
