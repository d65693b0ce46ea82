"""Pure statistics of a labeling campaign: vote tables in, numbers out. No Django here.

A vote table is an integer array of shape (images, 4): how many annotators gave each image each
label, in the paper's order L1 creative, L2 novel but not creative, L3 not novel or creative,
L4 inconclusive. Raw labels (for Dawid-Skene and per-annotator figures) are parallel integer arrays
(image index, annotator index, label index).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
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
    tie: np.ndarray  # (n,) bool: several labels reached the threshold and the policy had to decide


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
    policy = TiePolicy(tie_policy)
    if threshold < 1:
        raise ValueError("the agreement threshold must be at least 1")
    reaches = table >= threshold
    n_reaching = reaches.sum(axis=1)
    masked = np.where(reaches, table, -1)
    top = masked.max(axis=1, initial=-1)
    n_top = (masked == top[:, None]).sum(axis=1)
    labels = np.where(n_reaching >= 1, masked.argmax(axis=1), NO_CONSENSUS)
    tie = n_reaching >= 2
    if policy is TiePolicy.UNIQUE_OR_NONE:
        labels = np.where(tie, NO_CONSENSUS, labels)
    else:
        tied_top = (n_reaching >= 1) & (n_top >= 2)
        fallback = NO_CONSENSUS if policy is TiePolicy.PLURALITY_OR_NONE else N_LABELS - 1
        labels = np.where(tied_top, fallback, labels)
    return Consensus(labels=labels.astype(np.int64), votes=table.sum(axis=1), tie=tie)


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
    n_ties: int
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
        n_ties=int(result.tie.sum()),
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


@dataclass(frozen=True)
class AgreementIntervals:
    fleiss_kappa: Interval | None
    krippendorff_alpha: Interval | None
    resamples: int


def _fleiss_from_sums(weights: np.ndarray, table: np.ndarray, raters: int) -> np.ndarray:
    """Fleiss' kappa of each weighted resample (weights: (B, images)), from sums over the images."""
    agreement = ((table * table).sum(axis=1) - raters) / (raters * (raters - 1))
    total = weights.sum(axis=1)
    # An empty resample (or full agreement) has no kappa: NaN, dropped by the caller.
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = weights @ agreement / total
        p_cat = (weights @ table) / (raters * total)[:, None]
        p_e = (p_cat**2).sum(axis=1)
        return (p_bar - p_e) / (1 - p_e)


def _alpha_from_sums(weights: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Nominal Krippendorff's alpha of each weighted resample: 1 - (n - 1) * D_o / (n^2 - sum_c n_c^2).

    D_o sums, per image with m >= 2 votes, (m^2 - sum_c n_c^2) / (m - 1): its disagreeing ordered pairs.
    """
    m = table.sum(axis=1)
    disagreement = (m * m - (table * table).sum(axis=1)) / (m - 1)
    n_c = weights @ table
    n = n_c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (n - 1) * (weights @ disagreement) / (n * n - (n_c**2).sum(axis=1))


def bootstrap_agreement(
    counts, raters: int, *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> AgreementIntervals:
    """Percentile bootstrap intervals over images for Fleiss' kappa and Krippendorff's alpha.

    Each resample draws the images with replacement; both statistics are sums over images, so a
    resample is a weight vector and all of them are one matrix product (fast enough for a page view).
    Resamples where a statistic is undefined (a single category drawn) are left out.
    """
    table = as_vote_table(counts).astype(float)
    if len(table) < 2:
        return AgreementIntervals(None, None, 0)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(table), np.full(len(table), 1 / len(table)), size=resamples).astype(float)
    tail = (1 - confidence) / 2 * 100

    def interval(values: np.ndarray) -> Interval | None:
        values = values[np.isfinite(values)]
        if len(values) < resamples / 2:
            return None
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(low), float(high))

    complete = table.sum(axis=1) == raters
    kappa = None
    if raters >= 2 and complete.sum() >= 2:
        w = weights[:, complete]
        kappa = interval(_fleiss_from_sums(w, table[complete], raters)[w.sum(axis=1) > 0])
    pairable = table.sum(axis=1) >= 2
    alpha = None
    if pairable.sum() >= 2:
        w = weights[:, pairable]
        alpha = interval(_alpha_from_sums(w, table[pairable])[w.sum(axis=1) > 0])
    return AgreementIntervals(kappa, alpha, resamples)


def chance_reach_probability(raters: int = 9, threshold: int = 3, n_labels: int = N_LABELS) -> float:
    """P(a given label gets >= threshold of `raters` votes) when every vote is uniform at random."""
    return float(sps.binom.sf(threshold - 1, raters, 1 / n_labels))


def chance_consensus(
    raters: int = 9, threshold: int = 3, tie_policy: TiePolicy | str = TiePolicy.PLURALITY_OR_NONE
) -> tuple[tuple[float, ...], float]:
    """Exact outcome distribution of the rule under uniform random votes: (P(label k) for k in L1..L4, P(none)).

    Enumerates every split of the votes over the four labels (220 for 9 votes) with its multinomial
    probability, so the tie policy is applied exactly as for real images.
    """
    splits = [c for c in itertools.product(range(raters + 1), repeat=N_LABELS) if sum(c) == raters]
    table = np.array(splits, dtype=np.int64)
    probs = sps.multinomial.pmf(table, n=raters, p=[1 / N_LABELS] * N_LABELS)
    labels = consensus(table, threshold, tie_policy).labels
    per_label = tuple(float(probs[labels == k].sum()) for k in range(N_LABELS))
    return per_label, float(probs[labels == NO_CONSENSUS].sum())


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
class DawidSkene:
    posteriors: np.ndarray  # (images, 4)
    labels: np.ndarray  # (images,) argmax of the posteriors, NO_CONSENSUS for images without labels
    priors: np.ndarray  # (4,)
    confusion: np.ndarray  # (annotators, 4 true, 4 given)
    iterations: int
    converged: bool


def dawid_skene(
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    n_items: int,
    n_annotators: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkene:
    """Dawid & Skene (1979) EM: each annotator has a confusion matrix; the true label is latent.

    Started from the vote shares (as the original). `smoothing` is a small pseudo-count that keeps an
    annotator who never used a label from getting a log(0).
    """
    items = np.asarray(items, dtype=np.int64)
    annotators = np.asarray(annotators, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    m = len(labels)
    ones = np.ones(m)
    # Sparse incidence matrices turn the per-label sums into products (np.add.at is ten times slower).
    by_item = sparse.csr_matrix((ones, (items, np.arange(m))), shape=(n_items, m))
    by_annotator_label = sparse.csr_matrix(
        (ones, (annotators * N_LABELS + labels, np.arange(m))), shape=(n_annotators * N_LABELS, m)
    )
    post = by_item @ np.eye(N_LABELS)[labels] if m else np.zeros((n_items, N_LABELS))
    post = np.asarray(post)
    has = post.sum(axis=1) > 0
    post[~has] = 1.0
    post /= post.sum(axis=1, keepdims=True)
    priors = np.full(N_LABELS, 1 / N_LABELS)
    confusion = np.zeros((n_annotators, N_LABELS, N_LABELS))
    iterations, converged = 0, n_items == 0 or m == 0
    for step in range(1, max_iter + 1 if m else 1):
        iterations = step
        # M step: class priors and each annotator's confusion matrix [true, given] from the posteriors.
        priors = np.clip(post[has].mean(axis=0), 1e-12, None)
        priors /= priors.sum()
        given = np.asarray(by_annotator_label @ post[items]).reshape(n_annotators, N_LABELS, N_LABELS)
        confusion = given.transpose(0, 2, 1) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E step: posterior of each image's true label.
        log_post = np.log(priors) + np.asarray(by_item @ np.log(confusion[annotators, :, labels]))
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        change = float(np.abs(new - post).max()) if n_items else 0.0
        post = new
        if change < tol:
            converged = True
            break
    out = np.where(has, post.argmax(axis=1), NO_CONSENSUS) if n_items else np.zeros(0, dtype=np.int64)
    return DawidSkene(
        posteriors=post, labels=out, priors=priors, confusion=confusion, iterations=iterations, converged=converged
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


def vote_table(items: np.ndarray, labels: np.ndarray, n_items: int) -> np.ndarray:
    """Raw labels -> vote table (images, 4)."""
    table = np.zeros((n_items, N_LABELS), dtype=np.int64)
    np.add.at(table, (np.asarray(items, dtype=np.int64), np.asarray(labels, dtype=np.int64)), 1)
    return table
