"""Annotation campaigns, claims and labels.

An annotator never sees a scheme: they see PoolItems (opaque ids and images) only.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from generation.models import PoolItem, SamplePool


class LabelValue(models.TextChoices):
    """The paper's four labels, in its order (L1..L4); keys 1-4 in the labeling page."""

    CREATIVE = "creative", "Creative"
    NOVEL = "novel", "Novel but not creative"
    NOT_NOVEL = "not_novel", "Not novel or creative"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    pool = models.ForeignKey(SamplePool, on_delete=models.PROTECT, related_name="campaigns")
    annotators_per_image = models.PositiveSmallIntegerField(default=9)
    instructions = models.TextField(blank=True, help_text="Shown to annotators before they start (basic HTML allowed).")
    priming_count = models.PositiveIntegerField(default=64, help_text="Training images in the priming grid.")
    is_open = models.BooleanField(default=True)
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="campaigns")
    claim_timeout_seconds = models.PositiveIntegerField(default=600, help_text="An unanswered claim is released after this.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def instructions_html(self) -> str:
        return safe_html(self.instructions)


class Label(models.Model):
    """One annotator's label for one pool item in one campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="labels")
    item = models.ForeignKey(PoolItem, on_delete=models.PROTECT, related_name="labels")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels")
    value = models.CharField(max_length=20, choices=LabelValue.choices)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "item", "annotator"], name="one_label_per_annotator_item"),
        ]
        indexes = [models.Index(fields=["campaign", "item"]), models.Index(fields=["campaign", "annotator"])]

    def __str__(self) -> str:
        return f"{self.annotator_id}:{self.item_id}={self.value}"


SHUFFLE_MODULUS = 2_147_483_647  # a prime: (shuffle * key) mod it permutes the shuffle values for any key


def random_shuffle() -> int:
    return secrets.randbelow(SHUFFLE_MODULUS)


class CampaignItem(models.Model):
    """A pool item's place in a campaign: how many labels it has and how many annotators hold it now.

    `shuffle` is a random number per row; each annotator sees images in the order of (shuffle * key) mod a prime,
    with their own key, so everyone has their own random order and it costs one multiplication per row.

    Assignment locks these rows (SELECT ... FOR UPDATE SKIP LOCKED), and the counters live on the locked
    row itself, so PostgreSQL re-checks the "still has room" condition on the newest row version and
    two annotators can never both take the ninth slot. The check constraint is the last line of defence.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_items")
    item = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="+")
    capacity = models.PositiveSmallIntegerField()  # copied from campaign.annotators_per_image
    labels_count = models.PositiveSmallIntegerField(default=0)
    claims_count = models.PositiveSmallIntegerField(default=0)
    shuffle = models.PositiveIntegerField(default=random_shuffle, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "item"], name="one_campaign_item"),
            models.CheckConstraint(
                condition=models.Q(labels_count__lte=models.F("capacity") - models.F("claims_count")),
                name="campaign_item_within_capacity",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "labels_count"])]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.item_id}"


class Claim(models.Model):
    """An image handed to an annotator and not yet labelled. One per annotator and campaign at a time."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="claims")
    slot = models.ForeignKey(CampaignItem, on_delete=models.CASCADE, related_name="claims")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    claimed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "annotator"], name="one_claim_per_annotator")]
        indexes = [models.Index(fields=["campaign", "claimed_at"])]


class Priming(models.Model):
    """When an annotator studied a campaign's priming grid; labeling starts only after it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="primings")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "annotator"], name="one_priming_per_annotator")]


ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a", "h2", "h3", "h4", "blockquote", "code"}


def safe_html(text: str) -> str:
    """Instructions are written by researchers but read by everyone: keep a small safe subset of HTML."""
    import nh3

    return nh3.clean(text, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"})
