"""Annotation campaigns, claims and labels.

An annotator never sees a scheme: they see PoolItems (opaque ids and images) only.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from core.freezing import Freezable
from generation.models import PoolItem, SamplePool


class LabelValue(models.TextChoices):
    """The paper's four labels, in its order (L1..L4); keys 1-4 in the labeling page."""

    CREATIVE = "creative", "Creative"
    NOVEL = "novel", "Novel but not creative"
    NOT_NOVEL = "not_novel", "Not novel or creative"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


# The paper's four labels in our words: what a new campaign tells its annotators until the researcher changes it.
DEFAULT_INSTRUCTIONS = """<p>You will see one image at a time, made by a model that learned from the training images \
shown first. Judge each image against those training images and choose one label:</p>
<ul>
<li><strong>Creative</strong>: new <em>and</em> meaningful. It is unlike every training image, yet it still makes sense \
as an image of its kind: it has value.</li>
<li><strong>Novel but not creative</strong>: new, but not meaningful. It differs from the training images, but only as \
noise, a broken shape or something you cannot read.</li>
<li><strong>Not novel or creative</strong>: it looks like the training images; it could be one of them.</li>
<li><strong>Inconclusive</strong>: you cannot tell.</li>
</ul>
<p>Keys 1 to 4 choose a label, U undoes the last one, P shows the training images again.</p>"""


def default_instructions() -> str:
    return DEFAULT_INSTRUCTIONS


class Campaign(Freezable, models.Model):
    # What annotators were shown and how many votes each image gets: fixed once labels exist.
    frozen_fields = ("pool", "annotators_per_image", "instructions", "priming_count")
    copy_label = "Copy as a new campaign"

    name = models.CharField(max_length=200)
    pool = models.ForeignKey(SamplePool, on_delete=models.PROTECT, related_name="campaigns")
    annotators_per_image = models.PositiveSmallIntegerField(
        default=9, help_text="Votes each image gets (the paper: 9). At least the report's threshold, at most the "
        "number of annotators taking part.")
    instructions = models.TextField(blank=True, default=default_instructions,
                                    help_text="Shown to annotators before they start (basic HTML allowed).")
    priming_count = models.PositiveIntegerField(default=64, help_text="Training images in the priming grid.")
    is_open = models.BooleanField(default=True)
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="campaigns")
    claim_timeout_seconds = models.PositiveIntegerField(default=600, help_text="An unanswered claim is released after this.")
    created_at = models.DateTimeField(auto_now_add=True)
    report_first_viewed_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When a researcher first saw results (the report or a CSV of it): a manual exclusion made later "
        "is marked as made after the data was seen.")
    first_label_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the campaign got its first label. From then on what annotators were shown and the registered "
        "analysis are frozen, even if every label is deleted later (set and kept by the database).")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def instructions_html(self) -> str:
        return safe_html(self.instructions)

    def labelling_began(self) -> datetime | None:
        """When the campaign got its first label, read from the database (None before it; the time stays when labels
        are deleted later). Where the database keeps no such time (SQLite), the first of the labels there are."""
        if not self.pk:
            return None
        began = Campaign.objects.filter(pk=self.pk).values_list("first_label_at", flat=True).first()
        return began or self.labels.aggregate(first=models.Min("created_at"))["first"]

    def frozen_reason(self) -> str:
        n = self.labels.count()
        if n:
            return f"This campaign has {n} labels, given under these settings."
        began = self.labelling_began()
        return (f"This campaign got its first label on {began:%Y-%m-%d %H:%M} UTC under these settings (its labels "
                "have been deleted since)." if began else "")

    def save(self, *args, **kwargs) -> None:
        # Pool and votes per image are part of the registration: refused here too, not only in the admin's form.
        self.refuse_frozen_changes(kwargs.get("update_fields"))
        super().save(*args, **kwargs)

    def note_report_viewed(self) -> None:
        """Record the first time results were seen (written once; later views leave it)."""
        from django.utils import timezone

        if self.report_first_viewed_at is None:
            now = timezone.now()
            if Campaign.objects.filter(pk=self.pk, report_first_viewed_at__isnull=True).update(report_first_viewed_at=now):
                self.report_first_viewed_at = now

    def enrolment_limit(self, annotators=None) -> int | None:
        """How many annotators can take part: those enrolled (or `annotators`, the ones a form is about to save).

        None when there is no bound to check against: enrolment is open, or an unsaved campaign whose annotators
        are not known yet.
        """
        # Participants from a panel enrol themselves through the study link: there is no fixed number to check.
        open_enrolment = getattr(self, "pending_open_enrolment", None)
        if open_enrolment is None and self.pk:
            open_enrolment = StudyLink.objects.filter(campaign=self, is_active=True).exists()
        if open_enrolment:
            return None
        if annotators is None:
            annotators = getattr(self, "pending_annotators", None)
        if annotators is not None:
            return len(annotators)
        return self.annotators.count() if self.pk else None

    def report_threshold(self) -> int:
        """The report's consensus threshold: its stored settings, else their default."""
        try:
            return self.report_settings.threshold
        except ObjectDoesNotExist:
            return self._meta.get_field("report_settings").related_model._meta.get_field("threshold").default

    def settings_problems(self, annotators=None) -> dict[str, str]:
        """threshold <= annotators per image <= annotators taking part, else no image can reach a consensus."""
        problems = {}
        per_image, threshold = self.annotators_per_image, self.report_threshold()
        if per_image is not None and per_image < threshold:
            problems["annotators_per_image"] = (
                f"With {per_image} annotators per image no image can reach the report's consensus threshold of "
                f"{threshold} votes: ask for at least {threshold} annotators per image"
                + (", or lower the threshold in this campaign's report settings." if self.pk else
                   " (a lower threshold can be set in the campaign's report settings once it exists)."))
        limit = self.enrolment_limit(annotators)
        if per_image is not None and limit is not None and per_image > limit:
            lower = f", or lower annotators per image to {limit}" if limit >= threshold else ""
            problems["annotators"] = (
                f"{limit} annotator{'s' if limit != 1 else ''} take part but each image needs {per_image}, so no "
                f"image could get all its votes: add at least {per_image - limit} more annotators{lower}.")
        return problems

    def clean(self) -> None:
        self.clean_frozen()
        problems = self.settings_problems()
        if problems:
            raise ValidationError(problems)


class Label(models.Model):
    """One annotator's label for one pool item in one campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="labels")
    item = models.ForeignKey(PoolItem, on_delete=models.PROTECT, related_name="labels")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels")
    value = models.CharField(max_length=20, choices=LabelValue.choices)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)  # as the browser reports it
    # When the server handed the image out (the claim) and the label arrived (created_at), and the interval between:
    # what researchers are shown, since a browser's own figure cannot be checked.
    handed_at = models.DateTimeField(null=True, blank=True)
    server_time_ms = models.PositiveIntegerField(null=True, blank=True)
    # 1 for the annotator's first label in the campaign, 2 for the next, ... (attention checks included).
    position = models.PositiveIntegerField(null=True, blank=True)
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


class Panel(models.TextChoices):
    """Where participants come from: each panel puts its own ids into the study link's query string."""

    PROLIFIC = "prolific", "Prolific (PROLIFIC_PID, STUDY_ID, SESSION_ID)"
    MTURK = "mturk", "MTurk (workerId, assignmentId, hitId)"
    NONE = "none", "None: ask for nothing (each browser is a new participant)"


# The query parameters each panel sends: participant, study, session.
PANEL_PARAMETERS: dict[str, tuple[str, str, str]] = {
    Panel.PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    Panel.MTURK: ("workerId", "assignmentId", "hitId"),
    Panel.NONE: ("", "", ""),
}

DEFAULT_CONSENT = """<p>This study is run by researchers who want to know how people judge images made by a \
computer model. You will see small images one at a time and choose a label for each.</p>
<p>We store your panel id, the labels you give and how long each took. We do not ask for your name or any other \
personal data. You can stop at any time by closing this page.</p>
<p>By continuing you agree to take part.</p>"""


def default_consent() -> str:
    return DEFAULT_CONSENT


def new_link_id() -> str:
    return secrets.token_urlsafe(6)


def new_link_secret() -> str:
    return secrets.token_urlsafe(24)


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


def link_active_key(link_pk: int) -> str:
    """The cache key of whether a study link is active (annotation/panel.py reads it on every request)."""
    return f"study-link-active:{link_pk}"


class StudyLinkQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        # An update bypasses the save signals that clear the cached "active" flag: clear it here too.
        from django.core.cache import cache

        pks = list(self.values_list("pk", flat=True))
        count = super().update(**kwargs)
        cache.delete_many([link_active_key(pk) for pk in pks])
        return count


class StudyLink(models.Model):
    """A campaign's secret link for participants from a panel (Prolific, MTurk, a university pool).

    Whoever holds the link can enrol: a pseudonymous annotator account is made per panel participant id, with a
    quota of images and a completion code at the end. Revoking it (unticking "active") stops new and returning
    participants at once.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="study_link")
    link_id = models.CharField(max_length=16, unique=True, default=new_link_id, editable=False)
    secret = models.CharField(max_length=64, default=new_link_secret, editable=False)
    is_active = models.BooleanField(
        "active", default=True, help_text="Untick to revoke the link: new and returning participants are stopped at once.")
    panel = models.CharField(max_length=20, choices=Panel.choices, default=Panel.PROLIFIC)
    participant_param = models.CharField(
        max_length=40, blank=True, help_text="Query parameter with the participant id (blank: the panel's own name).")
    study_param = models.CharField(max_length=40, blank=True, help_text="Query parameter with the study id (blank: the panel's).")
    session_param = models.CharField(max_length=40, blank=True, help_text="Query parameter with the session id (blank: the panel's).")
    consent = models.TextField(default=default_consent, help_text="Shown before anything else (basic HTML allowed).")
    quota = models.PositiveIntegerField(
        default=50, validators=[MinValueValidator(1)], help_text="Images per participant, attention checks included.")
    completion_url = models.URLField(
        max_length=500, blank=True,
        help_text="Where participants go when they finish, e.g. https://app.prolific.com/submissions/complete?cc={code} "
        "({code} is replaced by their completion code). Blank: they see the code only.")
    code_completed = models.CharField(max_length=40, default=new_completion_code, help_text="Code for a participant who finished.")
    code_failed_checks = models.CharField(
        max_length=40, default=new_completion_code,
        help_text="Code for a participant who finished but failed the attention checks (by the report's exclusion rule).")
    code_no_work = models.CharField(
        max_length=40, default=new_completion_code, help_text="Code for a participant who arrived when no image was left.")
    full_since = models.DateTimeField(null=True, blank=True, editable=False,
                                      help_text="When every image had its votes: the link closed itself.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyLinkQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Study link of {self.campaign}"

    def parameters(self) -> tuple[str, str, str]:
        """The query parameter names of the participant, study and session ids ("" for none)."""
        preset = PANEL_PARAMETERS[Panel(self.panel)]
        return (self.participant_param or preset[0], self.study_param or preset[1], self.session_param or preset[2])

    @property
    def consent_html(self) -> str:
        return safe_html(self.consent)

    def clean(self) -> None:
        codes = [self.code_completed, self.code_failed_checks, self.code_no_work]
        if len(set(codes)) != len(codes):
            raise ValidationError("The three completion codes must differ: the panel tells outcomes apart by them.")
        names = [n for n in self.parameters() if n]
        if len(set(names)) != len(names):
            raise ValidationError("The participant, study and session parameters must have different names.")
        if self.panel != Panel.NONE and not self.parameters()[0]:
            raise ValidationError({"participant_param": "Name the query parameter that carries the participant id."})


class Outcome(models.TextChoices):
    COMPLETED = "completed", "Completed"
    FAILED_CHECKS = "failed_checks", "Failed attention checks"
    NO_WORK = "no_work", "No work left"


class Participant(models.Model):
    """One panel participant of a campaign and the pseudonymous account made for them."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="participants")
    participant_id = models.CharField(max_length=64)
    study_id = models.CharField(max_length=64, blank=True)
    session_id = models.CharField(max_length=64, blank=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="participant")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    code_given = models.CharField(max_length=40, blank=True)
    excluded = models.BooleanField(
        default=False, help_text="Left out of the report by the researcher (e.g. rejected on the panel).")
    # Who excluded the participant, when and why: a manual exclusion is a decision the report has to account for.
    excluded_at = models.DateTimeField(null=True, blank=True, editable=False)
    excluded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", editable=False)
    exclusion_reason = models.CharField(max_length=300, blank=True,
                                        help_text="Why the participant is excluded (required to exclude).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "participant_id"], name="one_participant_per_id")]
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return self.participant_id

    def clean(self) -> None:
        if self.excluded and not self.exclusion_reason.strip():
            raise ValidationError({"exclusion_reason": "Say why the participant is excluded: the report lists it."})

    def save(self, *args, **kwargs) -> None:
        """A change of `excluded` is stamped with its time, and with its author when the caller set `excluding_user`."""
        stored = Participant.objects.filter(pk=self.pk).values_list("excluded", flat=True).first() if self.pk else None
        if bool(stored) != self.excluded:
            from django.utils import timezone

            self.excluded_at = timezone.now() if self.excluded else None
            self.excluded_by = getattr(self, "excluding_user", None) if self.excluded else None
            if not self.excluded:
                self.exclusion_reason = ""
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "excluded_at", "excluded_by", "exclusion_reason"}
        super().save(*args, **kwargs)


ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a", "h2", "h3", "h4", "blockquote", "code"}


def safe_html(text: str) -> str:
    """Instructions are written by researchers but read by everyone: keep a small safe subset of HTML."""
    import nh3

    return nh3.clean(text, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"})
