"""Annotation campaigns, claims and labels.

An annotator never sees a scheme: they see PoolItems (opaque ids and images) only.
"""

from __future__ import annotations

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
        indexes = [models.Index(fields=["campaign", "item"])]

    def __str__(self) -> str:
        return f"{self.annotator_id}:{self.item_id}={self.value}"
