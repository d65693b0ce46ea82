"""The Report: every figure of a campaign's report, and the parameters a reader needs to reproduce them."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotation.models import Campaign

from .. import collection, hypothesis, stats
from ..models import Registration, ReportSettings
from .common import AUC_TARGETS, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, METRICS, PERMUTATION_SEED
from .rows import AnnotatorRow, GalleryRow, ImageRow, LabelRow, ManualExclusion, MetricAUC, SchemeRow, SensitivityRow


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
                          "effective number of images for shares, a t interval for differences and AUCs (the t quantile at "
                          "the degrees of freedom the annotator part's noise leaves); coverage measured by simulation (benchmarks/interval_coverage.py). summary.csv "
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
