"""Intervals for a crossed design: every image gets votes from several annotators, every annotator votes on many
images. No Django here.

Every figure of the report with an interval is a ratio of sums over images of something decided by each image's
consensus: a label's share of the consensus images, the share without a consensus, a difference of two shares, an
AUC (a sum over pairs of images). Its variance has two parts (Owen 2007, "The pigeonhole bootstrap"):

- images: the spread of each image's linearised contribution z_i, as if images were independent (this already holds
  the noise of each single vote);
- annotators: the same annotator votes on many images, so one annotator's leaning moves all of them together. For each
  vote, d_ia = (the image's contribution with the vote as given) - (the same with the vote replaced by one drawn
  from the image's other votes): what this annotator, rather than a typical one, did to the image. Images i != j
  that share annotator a covary by E[d_ia d_ja], estimated by sum_a [(sum_i d_ia)^2 - sum_i d_ia^2]: the square of
  the annotator's total minus its diagonal, which is the vote noise the image part already counts (counting it twice
  is what makes the pigeonhole bootstrap over-cover).

How the two parts make one interval. The image part is a sum over hundreds of images and is taken as known, as
the usual sandwich variance is. The annotator part A = sum_a u_a (u_a: annotator a's term above) is an unbiased
estimate of a variance component, but a noisy one: a sum of one term per annotator, over 15-30 annotators, and where
annotators do not move a figure (no leaning, or a leaning that moves both compared shares, or every score, alike) it
is noise around 0. It is therefore used as it is, never truncated on its own (keeping only its positive half adds
about 0.4 of its standard deviation to every such variance and makes the interval too wide), and its noise is paid
for the way an estimated variance always is: the critical value is Student's t with Satterthwaite-type degrees of
freedom, df = V^2 / var(A), where V = image part + A and var(A) = n_a / (n_a - 1) sum_a (u_a - mean u)^2 is
estimated from the spread of the annotators' terms (they are independent across annotators). This is half the
textbook Satterthwaite value 2 V^2 / var(A), which assumes each annotator's total is normal and var(A) known: the
terms here are squares of sums over the few pivotal votes of an annotator, and var(A) is itself estimated from 15-30
of them, so the conservative half is taken (with the textbook value the simulation's AUCs and differences covered
92.5-93% in some scenarios and a true null was rejected up to 8% of the time). Only the total is
checked: a V of 0 or less is no variance, and the estimate says nothing about the annotators then (it happens when
every annotator's votes balance out over the images, each annotator's total near 0): the interval falls back to the
image part alone at the normal quantile, as an analysis of images that ignores annotators would. When annotators matter little next to the images, df is large and t is the normal quantile; when the
annotator part is large or uncertain, the interval widens by what its uncertainty costs. The same rule for every
figure; its one choice the simulation informed is the factor of df, stated above.

No vote is ever duplicated, so the 3-of-9 rule is applied only to real tables of votes and the interval is centred
at the estimate. Shares get a Wilson interval at the effective number of images (the number that would give the same
variance if images were independent), with the t quantile in place of z, which keeps a share near 0 or 1 inside
[0, 1]; differences and AUCs a t interval (on the logit scale the AUC's over-covered in the simulation).
benchmarks/interval_coverage.py measures their coverage by simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .stats import N_LABELS, NO_CONSENSUS, Interval, TiePolicy, consensus, vote_table

# The consensus of an image as a state index: a label 0..3, or NONE.
NONE = N_LABELS
STATES = N_LABELS + 1


@dataclass(frozen=True)
class CrossedVotes:
    """The votes of a campaign, and what each single vote does to its image's consensus."""

    items: np.ndarray  # (votes,) image index of each vote
    annotators: np.ndarray  # (votes,) annotator index
    state: np.ndarray  # (images,) consensus state of each image (label, or NONE)
    alternative: np.ndarray  # (votes, 4) the image's state with this vote changed to label k
    replace: np.ndarray  # (votes, 4) P(label k) for a vote drawn from the image's other votes

    @property
    def n_items(self) -> int:
        return len(self.state)


def as_state(labels: np.ndarray) -> np.ndarray:
    return np.where(labels == NO_CONSENSUS, NONE, labels)


def crossed_votes(items, annotators, labels, n_items: int, threshold: int, tie_policy: TiePolicy | str) -> CrossedVotes:
    items = np.asarray(items, dtype=np.int64)
    annotators = np.asarray(annotators, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    table = vote_table(items, labels, n_items)
    state = as_state(consensus(table, threshold, tie_policy).labels)
    others = table[items] - np.eye(N_LABELS, dtype=np.int64)[labels]  # (votes, 4): the image's other votes
    changed = others[:, None, :] + np.eye(N_LABELS, dtype=np.int64)[None]  # (votes, 4 new labels, 4)
    alternative = as_state(consensus(changed.reshape(-1, N_LABELS), threshold, tie_policy).labels)
    n_others = others.sum(axis=1, keepdims=True)
    # A lone vote has no other vote to stand in for it: it is replaced by itself (no annotator effect measured).
    replace = np.where(n_others > 0, others / np.maximum(n_others, 1), np.eye(N_LABELS)[labels])
    return CrossedVotes(items, annotators, state, alternative.reshape(-1, N_LABELS), replace)


def crossed_variance(
    votes: CrossedVotes, contribution: np.ndarray, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The image part and the annotator part of the variance (see crossed_variance_parts)."""
    image, annotator, _ = crossed_variance_parts(votes, contribution, strata)
    return image, annotator


def crossed_variance_parts(
    votes: CrossedVotes, contribution: np.ndarray, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image part, the annotator part and the estimated variance of the annotator part of the variance of statistics whose linearised change, when image i's
    consensus is in state c, is contribution[i, c, s] (images, STATES, statistics) and sums to 0 over the images.

    `strata`: each image's scheme. A pool holds a fixed number of images per scheme, so the images are a stratified
    sample: their contributions are centred within each scheme (a pooled AUC would otherwise count the difference
    between schemes as if the scheme of each image were drawn at random)."""
    g = contribution
    z = g[np.arange(votes.n_items), votes.state]  # (images, stats)
    if strata is not None and votes.n_items:
        codes = np.unique(strata, return_inverse=True)[1]
        sums = np.zeros((codes.max() + 1, z.shape[1]))
        np.add.at(sums, codes, z)
        z = z - (sums / np.bincount(codes)[:, None])[codes]
    as_given = g[votes.items, votes.state[votes.items]]  # (votes, stats)
    typical = np.einsum("vk,vks->vs", votes.replace, g[votes.items[:, None], votes.alternative])
    d = as_given - typical
    # Relative to the image's other annotators: the replacement is drawn from the other votes, which are not the
    # image's vote distribution (they lack the vote itself), so d has a mean per image even when annotators do not
    # differ; centred, it measures only what sets this annotator apart, rescaled for the share the centring takes.
    per_image = np.bincount(votes.items, minlength=votes.n_items).astype(float)
    mean = np.zeros((votes.n_items, g.shape[2]))
    np.add.at(mean, votes.items, d)
    mean /= np.maximum(per_image, 1)[:, None]
    m = per_image[votes.items][:, None]
    d = (d - mean[votes.items]) * np.sqrt(np.where(m > 1, m / np.maximum(m - 1, 1), 0.0))
    n_annotators = int(votes.annotators.max()) + 1 if len(votes.annotators) else 0
    total = np.zeros((n_annotators, g.shape[2]))
    np.add.at(total, votes.annotators, d)
    used = (z != 0).sum(axis=0)
    image = (z**2).sum(axis=0) * np.where(used > 1, used / np.maximum(used - 1, 1), 1.0)  # n / (n - 1)
    diagonal = np.zeros((n_annotators, g.shape[2]))
    np.add.at(diagonal, votes.annotators, d**2)
    terms = total**2 - diagonal  # one per annotator, independent across annotators
    annotator = terms.sum(axis=0)
    spread = n_annotators / max(n_annotators - 1, 1) * ((terms - terms.mean(axis=0)) ** 2).sum(axis=0)
    return image, annotator, spread


@dataclass(frozen=True)
class Ratio:
    """sum_i numerator[i, state_i] / sum_i denominator[i, state_i], as (images, STATES) tables."""

    numerator: np.ndarray
    denominator: np.ndarray

    def value(self, state: np.ndarray) -> float | None:
        rows = np.arange(len(state))
        den = float(self.denominator[rows, state].sum())
        return float(self.numerator[rows, state].sum()) / den if den > 0 else None

    def contribution(self, state: np.ndarray) -> np.ndarray:
        """(images, STATES): (numerator - R denominator) / D, the linearised change of R."""
        rows = np.arange(len(state))
        den = float(self.denominator[rows, state].sum())
        if den <= 0:
            return np.zeros(self.numerator.shape)
        r = float(self.numerator[rows, state].sum()) / den
        return (self.numerator - r * self.denominator) / den


def share(members: np.ndarray, hits: tuple[int, ...], among: tuple[int, ...]) -> Ratio:
    """Among the member images whose state is in `among`, the share whose state is in `hits`."""
    members = np.asarray(members, dtype=float)[:, None]
    return Ratio(members * np.isin(np.arange(STATES), hits)[None], members * np.isin(np.arange(STATES), among)[None])


CONSENSUS = tuple(range(N_LABELS))
ALL_STATES = tuple(range(STATES))


def fraction(members: np.ndarray, label: int) -> Ratio:
    """The share of the member images with a consensus whose consensus is `label`."""
    return share(members, (label,), CONSENSUS)


def no_consensus(members: np.ndarray) -> Ratio:
    return share(members, (NONE,), ALL_STATES)


def critical_value(confidence: float, df: float = np.inf) -> float:
    """The two-sided quantile: Student's t at `df` degrees of freedom (the normal one when df is infinite)."""
    return float(sps.norm.ppf(0.5 + confidence / 2) if not np.isfinite(df) else sps.t.ppf(0.5 + confidence / 2, df))


def satterthwaite_df(variance: float, annotator_spread: float) -> float:
    """Degrees of freedom of a variance estimate whose noise is that of its annotator part (the image part counted
    as known): V^2 / var(A), at least 1."""
    if annotator_spread <= 0:
        return np.inf
    return max(variance**2 / annotator_spread, 1.0)


def effective_wilson(p: float, variance: float, n: int, confidence: float, df: float = np.inf) -> Interval:
    """Wilson's interval at the effective number of images p(1-p)/variance (at most the images behind the share's
    denominator times the design effect 1 when p is 0 or 1, where the variance says nothing), with the t quantile
    at `df` degrees of freedom (the normal one where the variance is not used)."""
    uses_variance = variance > 0 and 0 < p < 1
    z = critical_value(confidence, df if uses_variance else np.inf)
    n_eff = p * (1 - p) / variance if uses_variance else float(n)
    n_eff = max(n_eff, 1.0)
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z / (1 + z * z / n_eff) * np.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff))
    return Interval(float(max(0.0, min(centre - half, p))), float(min(1.0, max(centre + half, p))))


def normal_interval(value: float, variance: float, confidence: float, low: float = -1.0, high: float = 1.0,
                    df: float = np.inf) -> Interval:
    """value +- t sqrt(variance), clipped to [low, high] (the normal quantile when df is infinite)."""
    z = critical_value(confidence, df)
    half = z * np.sqrt(max(variance, 0.0))
    return Interval(float(max(low, value - half)), float(min(high, value + half)))


def _class_of_states(positive: tuple[int, ...]) -> np.ndarray:
    """(STATES,): 1 positive, 0 negative (another consensus label), -1 out (no consensus)."""
    out = np.where(np.isin(np.arange(STATES), positive), 1, 0)
    out[NONE] = -1
    return out


@dataclass(frozen=True)
class PairRatio:
    """An AUC as a ratio of sums over pairs (positive, negative) of images in the same stratum: wins / pairs, ties
    one half. Per image and state: the wins and pairs it would take part in, the other images as they are."""

    wins: np.ndarray  # (images, STATES)
    pairs: np.ndarray  # (images, STATES)
    value: float | None
    n_images: int  # images with a consensus and a score
    n_positive: int
    total_pairs: float

    def contribution(self) -> np.ndarray:
        """(images, STATES): (wins - AUC pairs) / all pairs, the linearised change of the AUC."""
        if not self.total_pairs or self.value is None:
            return np.zeros(self.wins.shape)
        return (self.wins - self.value * self.pairs) / self.total_pairs


def auc_pairs(scores: np.ndarray, state: np.ndarray, positive: tuple[int, ...], strata: np.ndarray) -> PairRatio:
    """The Mann-Whitney AUC of `scores` for the positive states against the other consensus states, over pairs of
    images in the same stratum (one stratum: the pooled AUC; one per scheme: the within-scheme AUC)."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    klass = _class_of_states(positive)
    finite = np.isfinite(scores)
    current = np.where(finite, klass[state], -1)
    wins, pairs = np.zeros((n, STATES)), np.zeros((n, STATES))
    total_wins = total_pairs = 0.0
    for stratum in np.unique(strata):
        mine = (strata == stratum) & finite
        s = scores[mine]
        pos, neg = np.sort(s[current[mine] == 1]), np.sort(s[current[mine] == 0])
        total_wins += _wins_over(pos, neg)
        total_pairs += len(pos) * len(neg)
        own = current[mine]
        # As a positive: beats the negatives below (ties one half), itself left out if it is one of them.
        as_pos = np.searchsorted(neg, s, "left") + 0.5 * _ties(neg, s) - 0.5 * (own == 0)
        as_neg = len(pos) - np.searchsorted(pos, s, "right") + 0.5 * _ties(pos, s) - 0.5 * (own == 1)
        by_class = {1: (as_pos, len(neg) - (own == 0)), 0: (as_neg, len(pos) - (own == 1))}
        for c in range(STATES):
            if klass[c] in by_class:
                w, p = by_class[klass[c]]
                wins[mine, c], pairs[mine, c] = w, p
    value = total_wins / total_pairs if total_pairs else None
    used = current >= 0
    return PairRatio(wins, pairs, value, int(used.sum()), int((current == 1).sum()), total_pairs)


def _ties(sorted_values: np.ndarray, at: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_values, at, "right") - np.searchsorted(sorted_values, at, "left")


def _wins_over(pos: np.ndarray, neg: np.ndarray) -> float:
    return float((np.searchsorted(neg, pos, "left") + 0.5 * _ties(neg, pos)).sum())


@dataclass(frozen=True)
class AUCEstimate:
    value: float | None
    interval: Interval | None
    n_images: int  # images with a consensus and a value of the metric
    n_positive: int


@dataclass(frozen=True)
class CampaignIntervals:
    """The report's intervals, images and annotators crossed (see the module's docstring)."""

    fractions: dict[str, tuple[Interval | None, ...]]  # per group: the share of its consensus images with each label
    no_consensus: dict[str, Interval | None]  # per group: the share of its images without a consensus
    differences: dict[str, Interval | None]  # per baseline: target's L1 share minus the baseline's
    aucs: dict[tuple[str, str], AUCEstimate]  # per (metric, class): over every image with a consensus
    within_aucs: dict[tuple[str, str], AUCEstimate]  # ... over pairs of images of the same scheme only


def _figures(votes: CrossedVotes, groups: dict[str, np.ndarray], target: str | None, baselines: tuple[str, ...]):
    """name -> Ratio-like (value, contribution) of every share and difference."""
    out: dict[tuple, tuple[float | None, np.ndarray]] = {}
    state = votes.state
    for name, members in groups.items():
        for k in range(N_LABELS):
            ratio = fraction(members, k)
            out[("fraction", name, k)] = (ratio.value(state), ratio.contribution(state))
        ratio = no_consensus(members)
        out[("none", name)] = (ratio.value(state), ratio.contribution(state))
    for base in baselines:
        if target in groups and base in groups:
            (a, ga), (b, gb) = out[("fraction", target, 0)], out[("fraction", base, 0)]
            out[("difference", base)] = (None if a is None or b is None else a - b, ga - gb)
    return out


def _with_variance(votes: CrossedVotes, found: dict, strata: np.ndarray) -> dict:
    """name -> (value, variance, degrees of freedom) for the figures that have a value."""
    names = [name for name, (value, _) in found.items() if value is not None]
    if not names or not len(votes.items):
        return {}
    image, annotator, spread = crossed_variance_parts(
        votes, np.stack([found[name][1] for name in names], axis=-1), strata)
    # The annotator part is used as estimated (noisy around 0 where annotators do not move the figure) and its noise
    # paid for by Satterthwaite's degrees of freedom; only the total is checked (see the module's docstring).
    out = {}
    for j, name in enumerate(names):
        variance = float(image[j] + annotator[j])
        if variance > 0:
            out[name] = (found[name][0], variance, satterthwaite_df(variance, float(spread[j])))
        else:  # no variance: the image part alone, at the normal quantile
            out[name] = (found[name][0], float(image[j]), np.inf)
    return out


def campaign_intervals(
    votes: CrossedVotes, groups: dict[str, np.ndarray], *, target: str | None, baselines: tuple[str, ...],
    confidence: float, scores: dict[str, np.ndarray], auc_targets: dict[str, tuple[int, ...]], strata: np.ndarray,
) -> CampaignIntervals:
    """Every interval of the report's primary analysis. `groups`: name -> boolean mask over the images; `strata`: each
    image's scheme (the within-scheme AUC pairs images of one stratum only)."""
    found = _figures(votes, groups, target, baselines)
    aucs = {(metric, name, kind): auc_pairs(values, votes.state, classes, np.zeros(votes.n_items) if kind == "pooled"
                                            else strata)
            for metric, values in scores.items() for name, classes in auc_targets.items()
            for kind in ("pooled", "within")}
    found.update({key: (pair.value, pair.contribution()) for key, pair in aucs.items()})
    estimated = _with_variance(votes, found, strata)

    def share_interval(key, n: int) -> Interval | None:
        if key not in estimated:
            return None
        value, variance, df = estimated[key]
        return effective_wilson(value, variance, n, confidence, df)

    def t_interval(key, low: float, high: float) -> Interval | None:
        if key not in estimated:
            return None
        value, variance, df = estimated[key]
        return normal_interval(value, variance, confidence, low, high, df)

    def auc(key) -> AUCEstimate:
        pair = aucs[key]
        interval = t_interval(key, 0.0, 1.0)
        return AUCEstimate(pair.value, interval, pair.n_images, pair.n_positive)

    n_consensus = {name: int((votes.state[np.asarray(m, bool)] != NONE).sum()) for name, m in groups.items()}
    return CampaignIntervals(
        fractions={name: tuple(share_interval(("fraction", name, k), n_consensus[name]) for k in range(N_LABELS))
                   for name in groups},
        no_consensus={name: share_interval(("none", name), int(np.sum(m))) for name, m in groups.items()},
        differences={base: t_interval(("difference", base), -1.0, 1.0)
                     for base in baselines if ("difference", base) in found},
        aucs={(metric, name): auc((metric, name, "pooled")) for metric, name, kind in aucs if kind == "pooled"},
        within_aucs={(metric, name): auc((metric, name, "within")) for metric, name, kind in aucs if kind == "within"},
    )
