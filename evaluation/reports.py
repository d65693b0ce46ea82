"""A campaign's report: gather its labels from the database, run the statistics, return plain data.

Attention-check items (training images, expected "not novel or creative") never enter the consensus;
they decide only which annotators are excluded. Excluded annotators' labels are left out of every
figure except their own row in the annotator table and the long-format CSV (which flags them).
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.utils.crypto import salted_hmac

from annotation.models import Campaign, Label, LabelValue, Participant
from generation.models import GenerationJob, PoolItem

from . import collection, hypothesis, intervals, stats
from .models import Registration, ReportSettings
from .stats import Interval

# The paper's order of the labels (L1..L4) and of the schemes (three baselines, then the creative decoder).
LABELS: tuple[str, ...] = tuple(v.value for v in LabelValue)
LABEL_INDEX = {value: i for i, value in enumerate(LABELS)}
LABEL_NAMES: tuple[str, ...] = tuple(v.label for v in LabelValue)
SCHEME_ORDER = ("regular", "noisy", "random_flip", "low_active")
TARGET_SCHEME = "low_active"
ATTENTION_EXPECTED = LabelValue.NOT_NOVEL.value
ATTENTION_SCHEME = "attention_check"
# Two-way bootstrap (annotators and images) of the fractions, differences, agreement figures and surrogate-metric
# AUCs, and the permutation test on the share of L1 votes: fixed seeds, so a report reads the same every time.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
PERMUTATION_SEED = 0
INCONCLUSIVE = LabelValue.INCONCLUSIVE.value
# Surrogate metrics stored with each sample (field name, name shown), and the consensus classes they are read
# against: "creative" is consensus L1, "novel" is L1 or L2; each against every other image with a consensus.
METRICS: tuple[tuple[str, str], ...] = (
    ("dr_amortised", "D_r amortised"), ("dr_optimised", "D_r optimised"),
    ("entropy", "classifier entropy"), ("top_probability", "classifier top probability"),
    ("out_of_class_max", "out-of-class max"), ("out_of_class_count", "out-of-class count"),
    ("nn_pixels", "nearest training image, pixels"), ("nn_features", "nearest training image, features"),
)
AUC_TARGETS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("creative", "creative (L1) against the rest", (0,)),
    ("novel", "novel (L1 or L2) against the rest", (0, 1)),
)
# The gallery: per scheme, the images whose consensus is L1 (and L2) with the largest share of those votes.
GALLERY_SIZE = 8


def pseudonym(campaign_id: int, user_id: int) -> str:
    """A stable per-campaign name for an annotator that says nothing about the account."""
    digest = salted_hmac("evaluation.pseudonym", f"{campaign_id}:{user_id}").hexdigest()
    return f"A-{digest[:10]}"


def scheme_dr(job: GenerationJob) -> dict[str, dict]:
    """Mean D_r per scheme over all the job's samples (not only the pooled ones)."""
    try:
        from generation.services import job_scheme_dr
    except ImportError:
        summary = job.summary or {}
    else:
        summary = job_scheme_dr(job) or {}
    # Only per-scheme entries: a summary may carry other keys (timings, totals) beside them.
    return {k: v for k, v in summary.items() if isinstance(v, dict) and "dr_amortised_mean" in v}


def ordered_schemes(names) -> list[str]:
    names = set(names)
    return [s for s in SCHEME_ORDER if s in names] + sorted(names - set(SCHEME_ORDER))


def attention_kind(pool) -> str:
    """Which images the pool's attention checks are, in words (for the parameters)."""
    return f"{pool.get_attention_kind_display()}, expected label \u201cnot novel or creative\u201d"


@dataclass
class SchemeRow:
    scheme: str
    fractions: stats.LabelFractions
    n_unlabelled: int
    dr_n: int | None
    dr_amortised: float | None
    dr_optimised: float | None
    agreement: stats.Agreement
    bootstrap: stats.GroupBootstrap
    l1_share: float | None  # mean over the images of each image's share of L1 votes (no consensus needed)
    # Dawid-Skene labels of the images that have a consensus (an image whose posteriors tie counts a share to each
    # tied label, so the counts can be fractional)
    ds_counts: tuple[float, ...]
    ds_fractions: tuple[float | None, ...]  # ... as shares of them: the same images as `fractions`
    # Dawid-Skene labels over every labelled image: an image whose every vote was an abstention has none, and
    # counts in the denominator all the same (the shares then add up to less than 1)
    ds_all_fractions: tuple[float | None, ...]
    ds_iterations: int | None
    ds_converged: bool | None
    ds_ties: int = 0  # labelled images whose Dawid-Skene posteriors tie for the largest (split among the tied labels)
    # Intervals with images and annotators crossed (evaluation.intervals): each label's share, the no-consensus share.
    intervals: tuple[Interval | None, ...] = (None,) * stats.N_LABELS
    no_consensus_interval: Interval | None = None
    # Mean of each surrogate metric over the scheme's labelled images (None: no image has it), and how many have it.
    metric_means: dict[str, tuple[float | None, int]] = field(default_factory=dict)

    @property
    def novel_fraction(self) -> float | None:
        """Share of the consensus images that are novel (L1 or L2)."""
        f = self.fractions
        return (f.counts[0] + f.counts[1]) / f.n_consensus if f.n_consensus else None

    @property
    def no_consensus_share(self) -> float | None:
        f = self.fractions
        return f.n_no_consensus / f.n_images if f.n_images else None

    @property
    def fleiss_kappa(self) -> float | None:
        return self.agreement.kappa

    @property
    def krippendorff_alpha(self) -> float | None:
        return self.agreement.alpha


@dataclass
class SensitivityRow:
    """One tie policy x treatment of "inconclusive": the L1 fractions and the low-active tests under it."""

    tie_policy: str
    inconclusive: str
    primary: bool
    # per scheme: (images, consensus images, L1 count, L1 fraction or None)
    schemes: dict[str, tuple[int, int, int, float | None]]
    tests: list[stats.ProportionTest]
    share_tests: list[stats.ShareTest]
    manual_exclusions: bool = True  # False: the row keeps the labels of the participants excluded by hand

    @property
    def analysis(self) -> str:
        return "primary" if self.primary else "sensitivity"

    @property
    def exclusions(self) -> str:
        return "rule and by hand" if self.manual_exclusions else "rule only"


@dataclass
class ManualExclusion:
    """A panel participant excluded by hand: who did it, when, why, and whether results had been seen by then."""

    pseudonym: str
    participant_id: str
    by: str
    at: datetime | None
    reason: str
    after_report: bool | None  # None: the time is not recorded

    @property
    def timing(self) -> str:
        if self.after_report is None:
            return "time not recorded"
        return "after the report was first opened" if self.after_report else "before the report was first opened"


@dataclass
class AnnotatorRow:
    pseudonym: str
    n_labels: int  # labels on generated images
    median_time_ms: float | None
    n_agree: int  # labels equal to the image's consensus
    n_on_consensus: int  # labels on images that have a consensus
    n_agree_others: int  # labels equal to the consensus of the other annotators' votes
    n_on_others_consensus: int  # labels on images where the other votes have a consensus
    attention_seen: int
    attention_failed: int
    excluded: bool
    fast_labels: int = 0  # labels (attention checks included) faster than the speeder floor, by the time shown
    n_timed: int = 0  # labels with a time (attention checks included)

    @property
    def n_with_checks(self) -> int:
        return self.n_labels + self.attention_seen

    @property
    def fast_share(self) -> float | None:
        return self.fast_labels / self.n_timed if self.n_timed else None

    @property
    def agreement(self) -> float | None:
        return self.n_agree / self.n_on_consensus if self.n_on_consensus else None

    @property
    def agreement_others(self) -> float | None:
        return self.n_agree_others / self.n_on_others_consensus if self.n_on_others_consensus else None

    @property
    def attention_fail_rate(self) -> float | None:
        return self.attention_failed / self.attention_seen if self.attention_seen else None


@dataclass
class ImageRow:
    public_id: str
    scheme: str
    votes: tuple[int, ...]
    consensus: str  # a label value, or "" for no consensus
    several: bool  # several labels reached the threshold
    tied_top: bool  # ... and tied for the most votes
    ds_label: str  # a label value, "tie" when its posteriors tie for the largest, "" without votes
    ds_probability: float | None
    dr_amortised: float | None
    dr_optimised: float | None
    metrics: dict[str, float | None] = field(default_factory=dict)


@dataclass
class MetricAUC:
    """How well one surrogate metric tells one consensus class from the rest, over the images with a consensus."""

    metric: str
    metric_name: str
    target: str
    target_name: str
    n_images: int  # images with a consensus and a value of the metric
    n_positive: int
    auc: float | None
    interval: Interval | None  # images and annotators crossed (evaluation.intervals)
    why_none: str = ""  # when auc is None: why there is none
    boot_interval: Interval | None = None  # two-way percentile bootstrap (summary.csv only: it over-covers)
    # Within-scheme AUC: over pairs of images of the same scheme only, so the scheme's own effect on the metric and
    # on the labels drops out; its interval, the images and positives it is over.
    within_auc: float | None = None
    within_interval: Interval | None = None
    within_n_images: int = 0
    within_n_positive: int = 0


@dataclass
class GalleryImage:
    public_id: str
    votes_for: int  # votes for the gallery's label
    votes: int

    @property
    def share(self) -> float:
        return self.votes_for / self.votes if self.votes else 0.0


@dataclass
class GalleryRow:
    """Per scheme, the strongest consensus images: L1 ("creative") and L2 ("novel but not creative")."""

    scheme: str
    n_creative: int  # images whose consensus is L1 (the gallery shows up to GALLERY_SIZE of them)
    n_novel: int
    creative: list[GalleryImage]
    novel: list[GalleryImage]

    @property
    def sections(self) -> list[tuple[str, str, list[GalleryImage], int]]:
        return [("Creative (L1)", "creative", self.creative, self.n_creative),
                ("Novel but not creative (L2)", "novel", self.novel, self.n_novel)]


@dataclass
class LabelRow:
    public_id: str
    scheme: str
    pseudonym: str
    label: str
    time_spent_ms: int | None  # the time shown: the server's, or the browser's when smaller
    created_at: datetime
    excluded: bool
    client_time_ms: int | None = None  # as the browser reported it
    server_time_ms: int | None = None  # from handing the image out to the label's arrival
    position: int | None = None  # in the annotator's sequence, attention checks included


@dataclass
class Report:
    campaign: Campaign
    settings: ReportSettings
    annotators_per_image: int
    model_name: str
    model_id: int
    dataset: str
    job_id: int
    job_seed: int
    pool_name: str
    pool_seed: int
    schemes: list[SchemeRow]
    overall: SchemeRow
    chance: stats.ChanceBaseline
    tests: list[stats.ProportionTest]
    share_tests: list[stats.ShareTest]
    differences: dict[str, stats.Interval | None]  # interval of low-active's L1 share minus a baseline's (crossed)
    sensitivity: list[SensitivityRow]
    attention_kind: str
    annotators: list[AnnotatorRow]
    excluded: list[str]
    images: list[ImageRow] = field(repr=False)
    labels: list[LabelRow] = field(repr=False)
    metric_aucs: list[MetricAUC] = field(default_factory=list)
    gallery: list[GalleryRow] = field(default_factory=list, repr=False)
    boot_differences: dict[str, stats.Interval | None] = field(default_factory=dict)  # the two-way bootstrap's
    verdict: hypothesis.Verdict | None = None  # the primary hypothesis (None: not computed for this file)
    snapshot: Registration | None = None  # the stored pre-registration snapshot
    registration_mismatches: list[str] = field(default_factory=list)
    excluded_by_rule: list[str] = field(default_factory=list)
    excluded_by_hand: list[str] = field(default_factory=list)
    manual_exclusions: list[ManualExclusion] = field(default_factory=list)
    # How the labels were collected (evaluation.collection).
    position_bands: list[collection.PositionBand] = field(default_factory=list)
    check_kinds: list[collection.CheckKindRow] = field(default_factory=list)
    check_quality: str = ""
    speeder_floor_ms: int = 0

    @property
    def stored_metrics(self) -> list[tuple[str, str]]:
        """The METRICS that at least one labelled image carries (a job run before a metric existed, or a model
        whose classifier cannot give it, stores none): the page shows these; the CSV files show all."""
        return [(name, shown) for name, shown in METRICS
                if any(row.metric_means.get(name, (None, 0))[1] > 0 for row in self.schemes)]

    @property
    def missing_metrics(self) -> list[str]:
        stored = {name for name, _ in self.stored_metrics}
        return [shown for name, shown in METRICS if name not in stored]

    @property
    def metric_mean_rows(self) -> list[tuple[str, list[tuple[float | None, int]]]]:
        """One row per stored metric, one (mean, images) cell per scheme: eight metrics stay readable on one screen."""
        return [(shown, [row.metric_means.get(name, (None, 0)) for row in self.schemes])
                for name, shown in self.stored_metrics]

    @property
    def auc_targets(self) -> list[str]:
        return [shown for _, shown, _ in AUC_TARGETS]

    @property
    def auc_table(self) -> list[tuple[str, list[MetricAUC]]]:
        """One row per metric, one cell per consensus class."""
        return [(shown, [m for m in self.metric_aucs if m.metric == name]) for name, shown in self.stored_metrics]

    @property
    def auc_images(self) -> int:
        return self.overall.fractions.n_consensus

    @property
    def agreement_rows(self) -> list[SchemeRow]:
        return [*self.schemes, self.overall]

    @property
    def threshold(self) -> int:
        return self.settings.threshold

    @property
    def chance_reach(self) -> float:
        """P(L1 reaches the threshold by chance), averaged over the images' votes."""
        return self.chance.reach[0]

    @property
    def chance_labels(self) -> tuple[float, ...]:
        return self.chance.labels

    @property
    def chance_none(self) -> float:
        return self.chance.none

    @property
    def ds_converged(self) -> bool:
        return all(r.ds_converged is not False for r in self.schemes)

    @property
    def min_kappa_images(self) -> int:
        return stats.MIN_KAPPA_IMAGES

    def parameters(self) -> list[tuple[str, str]]:
        """Everything a reader needs to reproduce the numbers, as (name, value) pairs."""
        s = self.settings
        return [
            ("campaign", f"{self.campaign.name} (id {self.campaign.pk})"),
            ("model", f"{self.model_name} (id {self.model_id}, {self.dataset})"),
            ("generation job", f"{self.job_id} (seed {self.job_seed})"),
            ("pool", f"{self.pool_name} (seed {self.pool_seed})"),
            ("annotators per image", str(self.annotators_per_image)),
            ("consensus rule", f"a label with at least {s.threshold} of the image's votes"),
            ("tie policy", f"{s.tie_policy}: {s.tie_policy_text}"),
            ("inconclusive", f"{s.inconclusive}: {s.get_inconclusive_display()}; images without a consensus are counted apart"),
            ("primary hypothesis", hypothesis.statement(s)
             + (f" Snapshot SHA-256 {self.snapshot.sha256}." if self.snapshot else "")),
            ("primary analysis", self.registration()),
            ("fractions", "normalised over the images that have a consensus; the share without one is shown beside"),
            ("intervals", f"{s.confidence:.0%}, images and annotators crossed: the variance of each figure's "
                          "linearisation over the images plus the covariance that shared annotators add (each vote "
                          "against one drawn from the image's other votes, its own square left out), Wilson at the "
                          "effective number of images for shares, normal for differences, normal on the logit scale "
                          "for AUCs; coverage measured by simulation (benchmarks/interval_coverage.py). summary.csv "
                          f"also has the {s.confidence:.0%} Wilson interval (images as independent, annotators "
                          f"ignored) and the two-way percentile bootstrap ({BOOTSTRAP_RESAMPLES} resamples, seed "
                          f"{BOOTSTRAP_SEED}), which over-covers"),
            ("tests", "two-sided Fisher's exact test on L1 vs the other consensus labels (consensus images only); "
                      f"two-sided permutation test ({stats.PERMUTATIONS} permutations, seed {PERMUTATION_SEED}) on "
                      "each image's share of L1 votes (every labelled image); both Holm-adjusted over the baselines"),
            (
                "agreement",
                f"Fleiss' kappa over images with all {self.annotators_per_image} votes (shown from "
                f"{stats.MIN_KAPPA_IMAGES} such images); nominal Krippendorff's alpha over images with two votes or "
                "more; the two-way bootstrap gives their intervals",
            ),
            (
                "surrogate metrics",
                "per image, stored with its sample (" + ", ".join(n for _, n in METRICS) + "); AUC (Mann-Whitney U "
                "over positives x negatives, ties one half) of creative = consensus L1 and of novel = consensus L1 "
                "or L2, each against the other images with a consensus (images without one left out), over all "
                "schemes together and within schemes (pairs of images of the same scheme only); "
                f"{self.settings.confidence:.0%} interval with images and annotators crossed, counting how each "
                "image's consensus, hence its class, moves with the annotators who voted on it; summary.csv also has "
                f"the two-way percentile bootstrap's ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED})",
            ),
            ("chance baseline", "exact (every split of the votes), averaged over the images' numbers of votes cast"
                                + (", L4 votes left out before the rule" if s.abstain_inconclusive else "")),
            ("attention checks", self.attention_kind),
            (
                "exclusion rule",
                f"annotators who answered at least {s.min_attention_checks} attention checks and failed more than "
                f"{s.max_attention_fail_rate:.0%} of them (expected label: not novel or creative), and panel "
                "participants the researcher excluded",
            ),
            ("excluded annotators", ", ".join(self.excluded) or "none"),
            (
                "Dawid-Skene",
                f"EM as crowd-kit's DawidSkene, fitted per scheme (tolerance {stats.DS_TOL:g} on the evidence lower "
                f"bound, at most {stats.DS_MAX_ITER} iterations), each annotator's confusion matrix smoothed by a "
                f"Dirichlet prior: per true label {stats.DS_PRIOR_RIGHT:g} pseudo-vote on that label and "
                f"{stats.DS_PRIOR_WRONG:g} spread evenly over the others (right half the time a priori), added at "
                "every M-step; an image whose posteriors tie for the largest is shared equally among the tied "
                "labels (ties: " + ", ".join(f"{r.scheme} {r.ds_ties}" for r in self.schemes) + "); "
                + ", ".join(f"{r.scheme} {r.ds_iterations} iterations"
                            + ("" if r.ds_converged is not False else " (not converged)") for r in self.schemes
                            if r.ds_iterations is not None),
            ),
        ]

    def registration(self) -> str:
        registered = self.settings.registered_at
        if registered is None:
            return "not registered yet: the settings become the primary analysis when the campaign opens"
        return f"the settings in force when the campaign opened, registered {registered:%Y-%m-%d %H:%M} UTC"


def _shares(counts: tuple[int, ...]) -> tuple[float | None, ...]:
    total = sum(counts)
    return tuple((c / total) if total else None for c in counts)


def _scheme_row(
    name: str,
    table: np.ndarray,
    result: stats.Consensus,
    ds: tuple[np.ndarray, np.ndarray, int | None, bool | None],
    n_unlabelled: int,
    dr: dict | None,
    settings: ReportSettings,
    expected: int,
    bootstrap: stats.GroupBootstrap,
) -> SchemeRow:
    ds_share, ds_tied, ds_iterations, ds_converged = ds
    have = result.labels != stats.NO_CONSENSUS
    ds_counts = tuple(float(ds_share[have, k].sum()) for k in range(stats.N_LABELS))
    n_images = len(result.labels)
    votes = table.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = table[votes > 0, 0] / votes[votes > 0]
    return SchemeRow(
        scheme=name,
        fractions=stats.label_fractions(result, expected, settings.confidence),
        n_unlabelled=n_unlabelled,
        dr_n=(dr or {}).get("n"),
        dr_amortised=(dr or {}).get("dr_amortised_mean"),
        dr_optimised=(dr or {}).get("dr_optimised_mean"),
        agreement=stats.agreement(table, expected),
        bootstrap=bootstrap,
        l1_share=float(shares.mean()) if len(shares) else None,
        ds_counts=ds_counts,
        ds_fractions=_shares(ds_counts),
        ds_all_fractions=tuple(float(ds_share[:, k].sum()) / n_images if n_images else None
                               for k in range(stats.N_LABELS)),
        ds_iterations=ds_iterations,
        ds_converged=ds_converged,
        ds_ties=int(ds_tied.sum()),
    )


def _metric_aucs(labels: np.ndarray, metric_values: dict[str, np.ndarray], crossed: intervals.CampaignIntervals | None,
                 boot: dict[tuple[str, str], Interval | None]) -> list[MetricAUC]:
    """Per metric and class, the AUC over the images with a consensus and a value of the metric, with its interval
    (images and annotators crossed) and the within-scheme AUC beside it (`crossed`: None when the report skips the
    inference), and the two-way bootstrap's interval (`boot`, by (metric, class))."""
    out = []
    empty = intervals.AUCEstimate(None, None, 0, 0)
    names = dict(METRICS)
    for name, values in metric_values.items():
        use = (labels != stats.NO_CONSENSUS) & np.isfinite(values)
        for target, target_name, classes in AUC_TARGETS:
            positive = np.isin(labels[use], classes)
            constant = len(np.unique(values[use])) == 1
            both = 0 < positive.sum() < len(positive)
            # A metric with one value for every image tells nothing apart: no AUC (0.5 would read as "chance").
            auc = stats.auc(values[use], positive) if both and not constant else None
            pooled = crossed.aucs.get((name, target), empty) if crossed else empty
            within = crossed.within_aucs.get((name, target), empty) if crossed else empty
            # Without pairs of both classes inside one scheme, or with a metric constant there, there is no within AUC.
            within_ok = auc is not None and within.value is not None and within.interval is not None
            out.append(MetricAUC(
                metric=name, metric_name=names[name], target=target, target_name=target_name,
                n_images=int(use.sum()), n_positive=int(positive.sum()), auc=auc,
                interval=pooled.interval if auc is not None else None,
                why_none="" if auc is not None else "needs both classes" if not both else
                f"the same value ({float(values[use][0]):g}) for every image",
                boot_interval=boot.get((name, target)) if auc is not None else None,
                within_auc=within.value if within_ok else None, within_interval=within.interval if within_ok else None,
                within_n_images=within.n_images, within_n_positive=within.n_positive,
            ))
    return out


def _gallery_row(scheme: str, table: np.ndarray, labels: np.ndarray, public_ids: list[str]) -> GalleryRow:
    """The scheme's images with consensus L1 (and L2), strongest first: by the share of votes for that label,
    then by the number of them, then in pool order."""

    def strongest(k: int) -> tuple[int, list[GalleryImage]]:
        chosen = [GalleryImage(public_ids[i], int(table[i, k]), int(table[i].sum())) for i in np.flatnonzero(labels == k)]
        ranked = sorted(enumerate(chosen), key=lambda p: (-p[1].share, -p[1].votes_for, p[0]))
        return len(chosen), [image for _, image in ranked[:GALLERY_SIZE]]

    n_creative, creative = strongest(0)
    n_novel, novel = strongest(1)
    return GalleryRow(scheme, n_creative, n_novel, creative, novel)


def _subset(result: stats.Consensus, mask: np.ndarray) -> stats.Consensus:
    return stats.Consensus(labels=result.labels[mask], votes=result.votes[mask], several=result.several[mask],
                           tied_top=result.tied_top[mask])


def _l1_shares(table: np.ndarray, schemes: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Per scheme, each image's share of L1 votes among its votes in the table (images with none left out)."""
    votes = table.sum(axis=1)
    has = votes > 0
    share = np.zeros(len(table))
    share[has] = table[has, 0] / votes[has]
    return {name: share[has & (schemes == name)] for name in names}


def _sensitivity(
    tables: dict[str, np.ndarray], schemes: np.ndarray, names: list[str], settings: ReportSettings, inference: bool,
) -> list[SensitivityRow]:
    """Every tie policy x treatment of "inconclusive", the primary analysis first."""
    baselines = [n for n in names if n != TARGET_SCHEME]
    share_tests = {
        inconclusive: stats.l1_share_tests(_l1_shares(table, schemes, names), TARGET_SCHEME, baselines,
                                           seed=PERMUTATION_SEED) if TARGET_SCHEME in names and inference else []
        for inconclusive, table in tables.items()
    }
    rows = []
    for inconclusive in (settings.inconclusive, *[v for v in tables if v != settings.inconclusive]):
        for policy in (settings.tie_policy, *[p.value for p in stats.TiePolicy if p.value != settings.tie_policy]):
            labels = stats.consensus(tables[inconclusive], settings.threshold, policy).labels
            per_scheme = {}
            for name in names:
                mine = labels[schemes == name]
                n_cons = int((mine != stats.NO_CONSENSUS).sum())
                l1 = int((mine == 0).sum())
                per_scheme[name] = (len(mine), n_cons, l1, l1 / n_cons if n_cons else None)
            tests = (stats.fisher_l1_tests(TARGET_SCHEME, {n: (c[2], c[1]) for n, c in per_scheme.items()}, baselines)
                     if TARGET_SCHEME in names else [])
            primary = policy == settings.tie_policy and inconclusive == settings.inconclusive
            rows.append(SensitivityRow(policy, inconclusive, primary, per_scheme, tests, share_tests[inconclusive]))
    return rows


def _crossed_intervals(
    items: np.ndarray, annotators: np.ndarray, labels: np.ndarray, n: int, groups: dict[str, np.ndarray],
    baselines: list[str], settings: ReportSettings, metric_values: dict[str, np.ndarray], image_schemes: np.ndarray,
) -> intervals.CampaignIntervals:
    """The primary analysis's intervals, images and annotators crossed (evaluation.intervals)."""
    votes = intervals.crossed_votes(items, annotators, labels, n, settings.threshold, settings.tie_policy)
    strata = np.unique(image_schemes.astype(str), return_inverse=True)[1] if n else np.zeros(0, dtype=np.int64)
    return intervals.campaign_intervals(
        votes, groups, target=TARGET_SCHEME, baselines=tuple(baselines), confidence=settings.confidence,
        scores=metric_values, auc_targets={target: classes for target, _, classes in AUC_TARGETS}, strata=strata,
    )


def build_report(campaign: Campaign, settings: ReportSettings | None = None, *, inference: bool = True) -> Report:
    """The report of a campaign. `inference=False` skips the bootstrap and the permutation tests (their intervals
    and p-values are left empty): for the files that show none of them (consensus, labels, annotators)."""
    settings = settings or ReportSettings.for_campaign(campaign)
    pool = campaign.pool
    job = pool.job
    model = job.trained_model
    expected = campaign.annotators_per_image

    pool_rows = (
        PoolItem.objects.filter(pool=pool)
        .order_by("position")
        .values_list("id", "public_id", "sample__scheme", *[f"sample__{name}" for name, _ in METRICS])
    )
    items = [(pk, public_id, scheme) for pk, public_id, scheme, *_ in pool_rows]
    # Attention checks have no sample: their metrics are None and they never enter the consensus.
    sample_metrics = {pk: dict(zip([name for name, _ in METRICS], values, strict=True))
                      for pk, _, _, *values in pool_rows}
    item_meta = {pk: (public_id, scheme or ATTENTION_SCHEME) for pk, public_id, scheme in items}
    raw = list(
        Label.objects.filter(campaign=campaign, item__pool=pool)
        .order_by("created_at", "id")
        .annotate(shown_ms=collection.shown_time())
        .values_list("item_id", "annotator_id", "value", "shown_ms", "created_at")
    )

    # Attention checks decide the exclusions.
    seen: dict[int, int] = {}
    failed: dict[int, int] = {}
    for item_id, user_id, value, _, _ in raw:
        if item_meta[item_id][1] == ATTENTION_SCHEME:
            seen[user_id] = seen.get(user_id, 0) + 1
            failed[user_id] = failed.get(user_id, 0) + (value != ATTENTION_EXPECTED)
    excluded_ids = {
        uid
        for uid, n in seen.items()
        if n >= settings.min_attention_checks and failed[uid] / n > settings.max_attention_fail_rate
    }
    rule_ids = set(excluded_ids)
    # Panel participants the researcher excluded by hand (e.g. rejected on the panel).
    by_hand = list(Participant.objects.filter(campaign=campaign, excluded=True, user__isnull=False)
                   .select_related("excluded_by").order_by("excluded_at", "pk"))
    manual_ids = {p.user_id for p in by_hand} - rule_ids
    excluded_ids |= manual_ids

    # Generated images that received at least one kept label, in pool order.
    sample_items = [(pk, pid, scheme) for pk, pid, scheme in items if scheme]
    counted = [
        (item_id, user_id, value)
        for item_id, user_id, value, _, _ in raw
        if user_id not in excluded_ids and item_meta[item_id][1] != ATTENTION_SCHEME
    ]
    labelled = {item_id for item_id, _, _ in counted}
    # An abstention still makes the image "labelled" (it has no consensus rather than no votes).
    kept = [
        (item_id, user_id, LABEL_INDEX[value])
        for item_id, user_id, value in counted
        if not (settings.abstain_inconclusive and value == INCONCLUSIVE)
    ]
    image_items = [row for row in sample_items if row[0] in labelled]
    index_of = {pk: i for i, (pk, _, _) in enumerate(image_items)}
    user_ids = sorted({uid for _, uid, _, _, _ in raw})
    user_index = {uid: i for i, uid in enumerate(user_ids)}

    n = len(image_items)
    k_items = np.array([index_of[i] for i, _, _ in kept], dtype=np.int64)
    k_users = np.array([user_index[u] for _, u, _ in kept], dtype=np.int64)
    k_labels = np.array([lab for _, _, lab in kept], dtype=np.int64)
    table = stats.vote_table(k_items, k_labels, n)
    result = stats.consensus(table, settings.threshold, settings.tie_policy)
    # The votes as cast (L4 included). An abstention is a vote cast: an image is incomplete when it has fewer votes
    # cast than annotators per image, whatever the rule then does with its L4 votes.
    c_items = np.array([index_of[i] for i, _, _ in counted], dtype=np.int64)
    c_labels = np.array([LABEL_INDEX[v] for _, _, v in counted], dtype=np.int64)
    cast = stats.vote_table(c_items, c_labels, n)
    result = dataclasses.replace(result, votes=cast.sum(axis=1))
    image_schemes = np.array([scheme for _, _, scheme in image_items], dtype=object)

    dr = scheme_dr(job)
    scheme_names = ordered_schemes({s for _, _, s in sample_items} | set(dr))
    masks = {name: image_schemes == name if n else np.zeros(0, dtype=bool) for name in scheme_names}

    # Dawid-Skene per scheme: each scheme has its own class prior (low-active images are not regular ones).
    ds_labels = np.full(n, stats.NO_CONSENSUS, dtype=np.int64)
    ds_posteriors = np.zeros((n, stats.N_LABELS))
    ds_fits: dict[str, tuple[int | None, bool | None]] = {}
    for name, mask in masks.items():
        local = np.full(n, -1, dtype=np.int64)
        local[mask] = np.arange(int(mask.sum()))
        mine = mask[k_items] if n else np.zeros(0, dtype=bool)
        if not mask.any():
            ds_fits[name] = (None, None)
            continue
        fit = stats.dawid_skene(local[k_items[mine]], k_users[mine], k_labels[mine], int(mask.sum()), len(user_ids),
                                prior=(stats.DS_PRIOR_RIGHT, stats.DS_PRIOR_WRONG))
        ds_labels[mask], ds_posteriors[mask] = fit.labels, fit.posteriors
        ds_fits[name] = (fit.iterations, fit.converged)
    ds_share, ds_tied = stats.ds_shares(ds_posteriors, ds_labels != stats.NO_CONSENSUS)

    # One two-way bootstrap for every interval of the primary analysis, the surrogate-metric AUCs included.
    metric_values = {name: np.array([np.nan if sample_metrics[pk][name] is None else sample_metrics[pk][name]
                                     for pk, _, _ in image_items], dtype=float) for name, _ in METRICS}
    baselines = [name for name in scheme_names if name != TARGET_SCHEME]
    voters, k_voters = np.unique(k_users, return_inverse=True)
    boot = stats.TwoWayBootstrap(0, BOOTSTRAP_SEED, {}, {}) if not inference else stats.two_way_bootstrap(
        k_items, k_voters, k_labels, n, len(voters), {**masks, "all": np.ones(n, dtype=bool)},
        raters=expected, threshold=settings.threshold, tie_policy=settings.tie_policy, target=TARGET_SCHEME,
        baselines=tuple(baselines), resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED, confidence=settings.confidence,
        scores=metric_values, auc_targets={target: classes for target, _, classes in AUC_TARGETS},
    )
    empty_boot = stats.GroupBootstrap((None,) * stats.N_LABELS, None, None, None)
    crossed = _crossed_intervals(k_items, k_voters, k_labels, n, {**masks, "all": np.ones(n, dtype=bool)}, baselines,
                                 settings, metric_values, image_schemes) if inference else None

    rows = []
    for name, mask in masks.items():
        n_pool = sum(1 for _, _, s in sample_items if s == name)
        rows.append(
            _scheme_row(
                name, table[mask], _subset(result, mask), (ds_share[mask], ds_tied[mask], *ds_fits[name]),
                n_pool - int(mask.sum()),
                dr.get(name), settings, expected, boot.groups.get(name, empty_boot),
            )
        )
    overall = _scheme_row("all", table, result, (ds_share, ds_tied, None, None), len(sample_items) - n, None, settings,
                          expected, boot.groups.get("all", empty_boot))

    # The votes with L4 as an abstention: the other treatment of "inconclusive".
    abstained = cast.copy()
    abstained[:, LABEL_INDEX[INCONCLUSIVE]] = 0
    chance = stats.chance_baseline(cast.sum(axis=1), settings.threshold, settings.tie_policy,
                                   abstain=settings.abstain_inconclusive, default_raters=expected)
    sensitivity = _sensitivity({"label": cast, "abstain": abstained}, image_schemes, scheme_names, settings,
                               inference)
    if manual_ids:
        sensitivity.insert(1, _without_manual_exclusions(raw, item_meta, rule_ids, scheme_names, settings, inference))
    primary = sensitivity[0]
    # The one confirmatory claim, decided on the primary rule's figures (the permutation test only with inference).
    verdict = None
    if inference or settings.endpoint == "consensus_l1":
        verdict = hypothesis.decide(settings, {name: (c[2], c[1]) for name, c in primary.schemes.items()},
                                    _l1_shares(abstained if settings.abstain_inconclusive else cast, image_schemes,
                                               scheme_names))
    registration = Registration.objects.filter(campaign=campaign).first()
    has_target = TARGET_SCHEME in scheme_names
    tests = primary.tests if has_target else []
    share_tests = primary.share_tests if has_target else []

    # Annotators: agreement with the consensus of the images they labelled, with and without their own vote.
    names = {uid: pseudonym(campaign.pk, uid) for uid in user_ids}
    times: dict[int, list[int]] = {uid: [] for uid in user_ids}
    counts = dict.fromkeys(user_ids, 0)
    floor = collection.speeder_floor_ms()
    fast, timed = dict.fromkeys(user_ids, 0), dict.fromkeys(user_ids, 0)
    for _, user_id, _, ms, _ in raw:
        timed[user_id] += ms is not None
        fast[user_id] += collection.is_fast(ms, floor)
    agree = dict.fromkeys(user_ids, 0)
    on_consensus = dict.fromkeys(user_ids, 0)
    scored = []  # (user, image index, label index, counted in the table)
    for item_id, user_id, value, ms, _ in raw:
        if item_meta[item_id][1] == ATTENTION_SCHEME:
            continue
        counts[user_id] += 1
        if ms is not None:
            times[user_id].append(ms)
        if item_id not in index_of or (settings.abstain_inconclusive and value == INCONCLUSIVE):
            continue  # nothing to agree with: only excluded votes on it, or the vote is an abstention
        i = index_of[item_id]
        scored.append((user_id, i, LABEL_INDEX[value], user_id not in excluded_ids))
        c = int(result.labels[i])
        if c != stats.NO_CONSENSUS:
            on_consensus[user_id] += 1
            agree[user_id] += LABEL_INDEX[value] == c
    loo_agree = dict.fromkeys(user_ids, 0)
    loo_on = dict.fromkeys(user_ids, 0)
    if scored:
        s_users, s_items, s_labels, s_counted = (np.array(col) for col in zip(*scored, strict=True))
        hit, has = stats.leave_one_out_agreement(table, s_items, s_labels, s_counted, settings.threshold, settings.tie_policy)
        for uid, h, ok in zip(s_users.tolist(), has.tolist(), hit.tolist(), strict=True):
            loo_on[uid] += h
            loo_agree[uid] += ok
    annotators = [
        AnnotatorRow(
            pseudonym=names[uid],
            n_labels=counts[uid],
            median_time_ms=float(statistics.median(times[uid])) if times[uid] else None,
            n_agree=agree[uid],
            n_on_consensus=on_consensus[uid],
            n_agree_others=loo_agree[uid],
            n_on_others_consensus=loo_on[uid],
            attention_seen=seen.get(uid, 0),
            attention_failed=failed.get(uid, 0),
            excluded=uid in excluded_ids,
            fast_labels=fast[uid],
            n_timed=timed[uid],
        )
        for uid in user_ids
    ]
    annotators.sort(key=lambda a: a.pseudonym)

    def label_value(k: int) -> str:
        return LABELS[k] if k != stats.NO_CONSENSUS else ""

    images = [
        ImageRow(
            public_id=pid,
            scheme=scheme,
            votes=tuple(int(v) for v in table[i]),
            consensus=label_value(int(result.labels[i])),
            several=bool(result.several[i]),
            tied_top=bool(result.tied_top[i]),
            ds_label="tie" if ds_tied[i] else label_value(int(ds_labels[i])),
            ds_probability=float(ds_posteriors[i].max()) if ds_labels[i] != stats.NO_CONSENSUS else None,
            dr_amortised=sample_metrics[pk].get("dr_amortised"),
            dr_optimised=sample_metrics[pk].get("dr_optimised"),
            metrics=sample_metrics[pk],
        )
        for i, (pk, pid, scheme) in enumerate(image_items)
    ]
    for row in [*rows, overall]:  # `all`: over every labelled image
        mask = np.ones(n, dtype=bool) if row is overall else masks[row.scheme]
        for name, _ in METRICS:
            values = metric_values[name][mask]
            values = values[np.isfinite(values)]
            row.metric_means[name] = (float(values.mean()) if len(values) else None, len(values))
    metric_aucs = _metric_aucs(result.labels, metric_values, crossed, boot.aucs)
    for row in [*rows, overall]:
        if crossed is not None:
            row.intervals, row.no_consensus_interval = crossed.fractions[row.scheme], crossed.no_consensus[row.scheme]
    gallery = [_gallery_row(name, table[mask], result.labels[mask], [image_items[i][1] for i in np.flatnonzero(mask)])
               for name, mask in masks.items() if mask.any()]
    details = collection.label_details(campaign)
    long = [
        LabelRow(
            public_id=item_meta[item_id][0],
            scheme=item_meta[item_id][1],
            pseudonym=names[user_id],
            label=value,
            time_spent_ms=ms,
            created_at=created,
            excluded=user_id in excluded_ids,
            client_time_ms=details.get((item_id, user_id), (None,) * 3)[0],
            server_time_ms=details.get((item_id, user_id), (None,) * 3)[1],
            position=details.get((item_id, user_id), (None,) * 3)[2],
        )
        for item_id, user_id, value, ms, created in raw
    ]
    # Order effects: the L1 rate by position, over the labels that count (kept annotators, generated images).
    bands = collection.position_bands([(details.get((i, u), (None,) * 3)[2], v) for i, u, v in counted])

    return Report(
        campaign=campaign,
        settings=settings,
        annotators_per_image=expected,
        model_name=model.name,
        model_id=model.pk,
        dataset=model.dataset,
        job_id=job.pk,
        job_seed=job.seed,
        pool_name=pool.name,
        pool_seed=pool.seed,
        schemes=rows,
        overall=overall,
        chance=chance,
        tests=tests,
        share_tests=share_tests,
        differences=crossed.differences if crossed else {},
        boot_differences=boot.differences,
        sensitivity=sensitivity,
        attention_kind=attention_kind(pool),
        annotators=annotators,
        excluded=sorted(names[uid] for uid in excluded_ids),
        images=images,
        labels=long,
        metric_aucs=metric_aucs,
        gallery=gallery,
        verdict=verdict,
        snapshot=registration,
        registration_mismatches=hypothesis.mismatches(registration, settings) if registration else [],
        excluded_by_rule=sorted(names[uid] for uid in rule_ids),
        excluded_by_hand=sorted(names[uid] for uid in manual_ids),
        manual_exclusions=[_manual_exclusion(campaign, p, names.get(p.user_id, "")) for p in by_hand],
        position_bands=bands,
        # Every annotator's: a kind of check that everyone fails is the checks' fault, and excluding would hide it.
        check_kinds=collection.failures_by_kind(campaign, ATTENTION_EXPECTED),
        check_quality=collection.check_quality_sentence(pool),
        speeder_floor_ms=floor,
    )


def _manual_exclusion(campaign: Campaign, participant: Participant, name: str) -> ManualExclusion:
    seen = campaign.report_first_viewed_at
    at = participant.excluded_at
    return ManualExclusion(
        pseudonym=name, participant_id=participant.participant_id,
        by=participant.excluded_by.get_username() if participant.excluded_by else "not recorded", at=at,
        reason=participant.exclusion_reason or "not recorded",
        after_report=None if at is None else (seen is not None and at >= seen))


def _without_manual_exclusions(raw: list, item_meta: dict, rule_ids: set[int], names: list[str],
                               settings: ReportSettings, inference: bool) -> SensitivityRow:
    """The primary rule over the labels of everyone the exclusion rule keeps, those excluded by hand included."""
    counted = [(item_id, LABEL_INDEX[value]) for item_id, user_id, value, _, _ in raw
               if user_id not in rule_ids and item_meta[item_id][1] != ATTENTION_SCHEME]
    items = sorted({item_id for item_id, _ in counted})
    index_of = {pk: i for i, pk in enumerate(items)}
    table = stats.vote_table(np.array([index_of[i] for i, _ in counted], dtype=np.int64),
                             np.array([k for _, k in counted], dtype=np.int64), len(items))
    if settings.abstain_inconclusive:
        table[:, LABEL_INDEX[INCONCLUSIVE]] = 0
    schemes = np.array([item_meta[pk][1] for pk in items], dtype=object)
    row = _sensitivity({settings.inconclusive: table}, schemes, names, settings, inference)[0]
    row.primary, row.manual_exclusions = False, False
    return row
