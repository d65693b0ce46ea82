"""The parameters of a campaign's report: the consensus rule, its tie policy and the exclusion rule.

They are stored (one row per campaign, edited in the admin) so that every report and every CSV can
name the exact rule its numbers came from. A campaign without a row uses the defaults below.

Pre-registration: when a campaign opens, the settings in force become its primary analysis (`registered_at` is
stamped; a row with the defaults is created if there is none). Once the campaign has had a label they cannot change
(deleting every label does not reopen them: the campaign keeps the time of its first label):
the report shows every other tie policy and treatment of "inconclusive" only as a labelled sensitivity analysis.
Before the first label nobody has seen any data, so a change is still allowed and moves the stamp.
"""

from __future__ import annotations

import hashlib
import json

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from annotation.models import Campaign
from core.freezing import Freezable

from .stats import TIE_POLICY_TEXT, TiePolicy


class InconclusivePolicy(models.TextChoices):
    LABEL = "label", "L4 is a label like the others (as in the paper)"
    ABSTAIN = "abstain", "An L4 vote is an abstention: left out before the rule, the agreement and Dawid-Skene"


class Endpoint(models.TextChoices):
    CONSENSUS_L1 = "consensus_l1", "L1 share among the images with a consensus (Fisher's exact test)"
    VOTE_SHARE = "vote_share", "Each image's share of L1 votes, every labelled image (permutation test)"


class Direction(models.TextChoices):
    GREATER = "greater", "The target scheme has more L1 than each comparison"
    LESS = "less", "The target scheme has less L1 than each comparison"


class Family(models.TextChoices):
    ALL = "all", "Beats every comparison (intersection-union: each test at alpha, no correction)"
    ANY = "any", "Beats at least one comparison (Holm over the listed comparisons)"


# The paper's claim: low-active decoding yields more creative images than each of the three baselines.
DEFAULT_TARGET = "low_active"
DEFAULT_COMPARISONS = "regular, noisy, random_flip"


def scheme_list(text: str) -> list[str]:
    """"regular, noisy" -> ["regular", "noisy"]: the comparison schemes in the order written."""
    return [name.strip() for name in text.replace(";", ",").split(",") if name.strip()]


class ReportSettings(Freezable, models.Model):
    # The primary analysis and hypothesis: fixed with the campaign's first label (see the module's docstring).
    frozen_fields = ("threshold", "tie_policy", "inconclusive", "max_attention_fail_rate", "min_attention_checks",
                     "confidence", "target_scheme", "comparison_schemes", "endpoint", "direction", "family", "alpha")
    copy_label = "Copy as settings of another campaign"

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="report_settings")
    threshold = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="A label is the consensus when at least this many annotators chose it."
    )
    tie_policy = models.CharField(
        max_length=40, choices=[(p.value, TIE_POLICY_TEXT[p]) for p in TiePolicy], default=TiePolicy.PLURALITY_OR_NONE.value
    )
    inconclusive = models.CharField(max_length=20, choices=InconclusivePolicy.choices, default=InconclusivePolicy.LABEL)
    max_attention_fail_rate = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Annotators who fail more than this share of their attention checks are excluded (1.0: nobody is).",
    )
    min_attention_checks = models.PositiveSmallIntegerField(
        default=2, help_text="The exclusion rule applies only to annotators who answered at least this many attention checks."
    )
    confidence = models.FloatField(
        default=0.95, validators=[MinValueValidator(0.5), MaxValueValidator(0.999)],
        help_text="Level of every interval of the report: the intervals shown (images and annotators crossed), and "
        "the Wilson and two-way bootstrap intervals of summary.csv.",
    )
    # The primary hypothesis: the one confirmatory claim of the campaign (see evaluation.hypothesis).
    target_scheme = models.CharField(max_length=30, default=DEFAULT_TARGET,
                                     help_text="Primary hypothesis: the scheme that is claimed to make more creative images.")
    comparison_schemes = models.CharField(
        max_length=200, default=DEFAULT_COMPARISONS,
        help_text="Primary hypothesis: the schemes it is compared with, separated by commas. This list is the family: "
        "its size does not change with the pool or with a sensitivity rule.")
    endpoint = models.CharField(max_length=20, choices=Endpoint.choices, default=Endpoint.CONSENSUS_L1,
                                help_text="Primary hypothesis: what is compared, and by which test (two-sided).")
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.GREATER)
    family = models.CharField(
        max_length=10, choices=Family.choices, default=Family.ALL,
        help_text="How the comparisons make one claim, and the correction that goes with it.")
    alpha = models.FloatField(default=0.05, validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)],
                              help_text="Primary hypothesis: the significance level of the claim.")
    registered_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When these settings became the campaign's pre-registered primary analysis (it opened).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "report settings"
        verbose_name_plural = "report settings"

    def __str__(self) -> str:
        return f"Report settings of {self.campaign}"

    def frozen_reason(self) -> str:
        if self.registered_at is None or not self.campaign_id:
            return ""
        n = self.campaign.labels.count()
        if not n and self.campaign.labelling_began() is None:
            return ""
        given = f"{n} labels have been given since" if n else "labels have been given since (and deleted)"
        return (f"These settings are the campaign's pre-registered primary analysis (registered "
                f"{timezone.localtime(self.registered_at):%Y-%m-%d %H:%M}) and {given}: other "
                "settings appear on the report as a sensitivity analysis.")

    def save(self, *args, **kwargs) -> None:
        # The model layer refuses a change of a registered value once labels exist, whoever calls save(); the
        # database refuses it too (a trigger, see the migration), so QuerySet.update() cannot move them either.
        self.refuse_frozen_changes(kwargs.get("update_fields"))
        # Settings changed before the first label, on an open campaign, are the ones registered.
        stamp = bool(self.campaign_id and self.campaign.is_open and (self.registered_at is None or not self.frozen_reason()))
        if stamp:
            self.registered_at = timezone.now()
        with transaction.atomic():
            super().save(*args, **kwargs)
            if stamp:
                Registration.write(self)

    @classmethod
    def register(cls, campaign: Campaign) -> ReportSettings:
        """Called when a campaign opens (and saved again before its first label): its settings in force (the defaults
        if none) become the primary analysis, and a snapshot of every registered value is stored with its hash."""
        settings, _ = cls.objects.get_or_create(campaign=campaign)
        if settings.registered_at is None or campaign.labelling_began() is None:
            settings.registered_at = timezone.now()
            with transaction.atomic():
                cls.objects.filter(pk=settings.pk).update(registered_at=settings.registered_at)
                Registration.write(settings)
        return settings

    def clean(self) -> None:
        self.clean_frozen()
        self.clean_hypothesis()
        if self.campaign_id and self.threshold is not None and self.threshold > self.campaign.annotators_per_image:
            per_image = self.campaign.annotators_per_image
            raise ValidationError(
                {"threshold": f"The threshold cannot exceed the campaign's {per_image} annotators per image: lower the "
                 f"threshold to {per_image} or less, or copy the campaign as a new one with more annotators per image."}
            )

    def clean_hypothesis(self) -> None:
        from creative_core.schemes import SCHEMES

        known = ", ".join(SCHEMES)
        comparisons = self.comparisons
        if self.target_scheme not in SCHEMES:
            raise ValidationError({"target_scheme": f"Unknown scheme \u201c{self.target_scheme}\u201d: one of {known}."})
        unknown = [n for n in comparisons if n not in SCHEMES]
        if unknown:
            raise ValidationError({"comparison_schemes": f"Unknown scheme(s) {', '.join(unknown)}: use {known}."})
        if not comparisons:
            raise ValidationError({"comparison_schemes": "Name at least one scheme to compare the target with."})
        if self.target_scheme in comparisons or len(set(comparisons)) != len(comparisons):
            raise ValidationError({"comparison_schemes": "List each comparison once, and not the target scheme."})

    @property
    def comparisons(self) -> list[str]:
        return scheme_list(self.comparison_schemes)

    def consensus_problem(self) -> str:
        """Why no image can reach a consensus under these settings and the campaign's ("" when some can)."""
        per_image = self.campaign.annotators_per_image
        if self.threshold > per_image:
            return (f"No image can reach a consensus: the threshold is {self.threshold} votes, but each image gets at "
                    f"most {per_image}. Lower the threshold to {per_image} or less in the report settings, or copy the "
                    "campaign as a new one with more annotators per image.")
        limit = self.campaign.enrolment_limit()
        if limit is not None and 0 < limit < self.threshold:
            return (f"No image can reach a consensus: the threshold is {self.threshold} votes, but only {limit} "
                    f"annotator{'s' if limit != 1 else ''} take part. Add annotators to the campaign, or lower the "
                    "threshold in the report settings.")
        return ""

    @classmethod
    def for_campaign(cls, campaign: Campaign) -> ReportSettings:
        """The stored settings, or unsaved defaults (reading a report never writes)."""
        try:
            return cls.objects.get(campaign=campaign)
        except cls.DoesNotExist:
            return cls(campaign=campaign)

    @property
    def abstain_inconclusive(self) -> bool:
        return self.inconclusive == InconclusivePolicy.ABSTAIN

    @property
    def tie_policy_text(self) -> str:
        return TIE_POLICY_TEXT[TiePolicy(self.tie_policy)]


class Registration(models.Model):
    """The snapshot of every registered value of a campaign (rule, exclusion rule, confidence, hypothesis, pool and
    model provenance) as canonical JSON, with its SHA-256 and time: written when the campaign opens (and again
    while it has no label), then never changed; the database refuses an update once labels exist.
    The report recomputes the snapshot from the live values and flags every difference."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="registration")
    registered_at = models.DateTimeField()
    snapshot = models.TextField(help_text="Canonical JSON (sorted keys, no spaces): the bytes the hash is of.")
    sha256 = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"Registration of {self.campaign}: {self.sha256[:12]}"

    @classmethod
    def write(cls, settings: ReportSettings) -> Registration:
        from .hypothesis import canonical_json, snapshot_of

        text = canonical_json(snapshot_of(settings))
        digest = hashlib.sha256(text.encode()).hexdigest()
        registration, _ = cls.objects.update_or_create(
            campaign_id=settings.campaign_id,
            defaults={"registered_at": settings.registered_at, "snapshot": text, "sha256": digest})
        return registration

    @property
    def values(self) -> dict:
        return json.loads(self.snapshot)

    @property
    def intact(self) -> bool:
        """The stored text still has the stored hash."""
        return hashlib.sha256(self.snapshot.encode()).hexdigest() == self.sha256
