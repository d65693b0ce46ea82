"""The rows of a report: per scheme, per sensitivity analysis, per annotator, per image, per metric, per label."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .. import stats
from ..stats import Interval


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
