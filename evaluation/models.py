"""The parameters of a campaign's report: the consensus rule, its tie policy and the exclusion rule.

They are stored (one row per campaign, edited in the admin) so that every report and every CSV can
name the exact rule its numbers came from. A campaign without a row uses the defaults below.

Pre-registration: when a campaign opens, the settings in force become its primary analysis (`registered_at` is
stamped; a row with the defaults is created if there is none). Once the campaign has labels they cannot change:
the report shows every other tie policy and treatment of "inconclusive" only as a labelled sensitivity analysis.
Before the first label nobody has seen any data, so a change is still allowed and moves the stamp.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from annotation.models import Campaign
from core.freezing import Freezable

from .stats import TIE_POLICY_TEXT, TiePolicy


class InconclusivePolicy(models.TextChoices):
    LABEL = "label", "L4 is a label like the others (as in the paper)"
    ABSTAIN = "abstain", "An L4 vote is an abstention: left out before the rule, the agreement and Dawid-Skene"


class ReportSettings(Freezable, models.Model):
    # The primary analysis: fixed with the campaign's first label (see the module's docstring).
    frozen_fields = ("threshold", "tie_policy", "inconclusive", "max_attention_fail_rate", "min_attention_checks",
                     "confidence")
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
        if not n:
            return ""
        return (f"These settings are the campaign's pre-registered primary analysis (registered "
                f"{timezone.localtime(self.registered_at):%Y-%m-%d %H:%M}) and {n} labels have been given since: other "
                "settings appear on the report as a sensitivity analysis.")

    def save(self, *args, **kwargs) -> None:
        # Settings changed before the first label, on an open campaign, are the ones registered.
        if self.campaign_id and self.campaign.is_open and (self.registered_at is None or not self.frozen_reason()):
            self.registered_at = timezone.now()
        super().save(*args, **kwargs)

    @classmethod
    def register(cls, campaign: Campaign) -> ReportSettings:
        """Called when a campaign opens: its settings in force (the defaults if none) become the primary analysis."""
        settings, _ = cls.objects.get_or_create(campaign=campaign)
        if settings.registered_at is None:
            settings.registered_at = timezone.now()
            cls.objects.filter(pk=settings.pk).update(registered_at=settings.registered_at)
        return settings

    def clean(self) -> None:
        self.clean_frozen()
        if self.campaign_id and self.threshold is not None and self.threshold > self.campaign.annotators_per_image:
            per_image = self.campaign.annotators_per_image
            raise ValidationError(
                {"threshold": f"The threshold cannot exceed the campaign's {per_image} annotators per image: lower the "
                 f"threshold to {per_image} or less, or copy the campaign as a new one with more annotators per image."}
            )

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
