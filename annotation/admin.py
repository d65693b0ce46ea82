from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from config.admin import FreezingAdmin, ResearchersOnlyAdmin
from config.roles import ANNOTATORS, is_researcher

from .models import Campaign, Label, Panel, Participant, StudyLink
from .services import ensure_slots


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = "__all__"

    def clean(self):
        data = super().clean()
        # The admin saves the annotators after the campaign: Campaign.clean() must judge the ones about to be saved.
        if "annotators" in data:
            self.instance.pending_annotators = list(data["annotators"])
        # The study link inline is saved after the campaign too: an active link about to be saved opens enrolment.
        prefix = StudyLinkInline.prefix
        if f"{prefix}-TOTAL_FORMS" in self.data:
            self.instance.pending_open_enrolment = any(
                self.data.get(f"{prefix}-{i}-is_active") and not self.data.get(f"{prefix}-{i}-DELETE")
                for i in range(int(self.data.get(f"{prefix}-TOTAL_FORMS") or 0)))
        return data


def _https_urls(field, **kwargs):
    """Form fields as usual; a URL typed without a scheme is taken as https (panels' pages are)."""
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class StudyLinkForm(forms.ModelForm):
    class Meta:
        model = StudyLink
        fields = "__all__"
        formfield_callback = _https_urls

    def has_changed(self) -> bool:
        # The inline shows no empty form: one that is there was added on purpose, even with every default kept.
        return self.instance.pk is None or super().has_changed()


class StudyLinkFormSet(BaseInlineFormSet):
    """A campaign form posted without the study link's fields (a script, an older page) leaves the link as it is,
    instead of failing on the missing management form."""

    def __init__(self, data=None, *args, **kwargs):
        prefix = StudyLinkInline.prefix
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
        super().__init__(data, *args, **kwargs)


class StudyLinkInline(admin.StackedInline):
    """The campaign's link for panel participants: copy it from here into the panel's study settings."""

    model = StudyLink
    prefix = "study_link"
    form = StudyLinkForm
    formset = StudyLinkFormSet
    extra = 0
    max_num = 1
    can_delete = True
    # The admin builds the inline's fields itself (its own callback wins over the form's): say https here too.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["study_url", "participants", "is_active", "panel", "participant_param", "study_param", "session_param",
              "quota", "consent", "completion_url", "code_completed", "code_failed_checks", "code_no_work", "full_since"]
    readonly_fields = ["study_url", "participants", "full_since"]
    verbose_name = "study link for a participant panel"

    # Access follows the researcher role, as everywhere in the admin (config.admin.ResearchersOnlyAdmin).
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        self.request = request  # inline instances are made per request: the link is shown with this site's address
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="Link to give the panel")
    def study_url(self, link: StudyLink) -> str:
        if not link.pk:
            return "Save to make the link."
        url = self.request.build_absolute_uri(reverse("annotation:study", args=[link.link_id, link.secret]))
        participant, study, session = link.parameters()
        if link.panel == Panel.PROLIFIC:
            # Prolific fills these placeholders in (or adds them itself with "URL parameters").
            url += "?" + "&".join(f"{n}={{{{%{n}%}}}}" for n in (participant, study, session) if n)
            note = "Paste it as the study URL in Prolific."
        elif link.panel == Panel.MTURK:
            note = f"MTurk adds {participant}, {study} and {session} to it itself (an external question)."
        else:
            note = "Anyone with this link can take part; each browser is a new participant."
        return format_html('<input type="text" readonly value="{}" size="100" style="max-width: 100%" '
                           'onclick="this.select()" aria-label="Study link" class="study-url"><br><span class="help">'
                           '{} The link holds its secret: share it only with the panel. {}</span>',
                           url, note, "" if link.is_active else "It is revoked: it works for nobody now.")

    @admin.display(description="Participants")
    def participants(self, link: StudyLink) -> str:
        if not link.pk:
            return "–"
        n = Participant.objects.filter(campaign_id=link.campaign_id).count()
        return format_html('<a href="{}">{} participant{} (table and participants.csv)</a>',
                           reverse("evaluation:participants", args=[link.campaign_id]), n, "" if n == 1 else "s")


@admin.register(Campaign)
class CampaignAdmin(FreezingAdmin, ResearchersOnlyAdmin):
    form = CampaignForm
    # The analysis plan (hypothesis, power, pre-registration) next to the numbers it depends on.
    fields = ["name", "pool", "annotators_per_image", "analysis_plan", "instructions", "priming_count", "is_open",
              "annotators", "claim_timeout_seconds"]
    readonly_fields = ["analysis_plan"]
    copy_fields = ("name", *Campaign.frozen_fields, "annotators", "claim_timeout_seconds")
    list_display = ["name", "pool", "is_open", "annotators_per_image", "label_count", "created_at"]
    list_filter = ["is_open"]
    search_fields = ["name"]
    filter_horizontal = ["annotators"]
    inlines = [StudyLinkInline]
    actions = ["open_campaigns", "close_campaigns"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_labels=Count("labels"))

    @admin.display(description="Labels", ordering="n_labels")
    def label_count(self, obj: Campaign) -> int:
        return obj.n_labels

    @admin.display(description="Analysis plan")
    def analysis_plan(self, obj: Campaign) -> str:
        """The primary hypothesis, its power and its pre-registration: planned here before the campaign opens."""
        if not obj.pk:
            return "Save the campaign to plan its analysis."
        from evaluation.hypothesis import statement
        from evaluation.models import ReportSettings

        settings = ReportSettings.for_campaign(obj)
        edit = (reverse("admin:evaluation_reportsettings_change", args=[settings.pk]) if settings.pk else
                reverse("admin:evaluation_reportsettings_add") + f"?campaign={obj.pk}")
        registered = (f"registered {settings.registered_at:%Y-%m-%d %H:%M} UTC" if settings.registered_at
                      else "registered when the campaign opens")
        return format_html(
            '<p class="analysis-plan">Primary hypothesis ({}): {}</p><p><a href="{}" id="power-planner-link">Power '
            'planner</a> · <a href="{}">Pre-registration (Markdown)</a> · <a href="{}">(JSON)</a> · <a href="{}">Report '
            'settings and hypothesis</a> · <a href="{}">Report</a></p>',
            registered, statement(settings), reverse("evaluation:power", args=[obj.pk]),
            reverse("evaluation:preregistration", args=[obj.pk, "md"]),
            reverse("evaluation:preregistration", args=[obj.pk, "json"]), edit,
            reverse("evaluation:report", args=[obj.pk]))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Only members of the annotators group can take part (add people to it in Users).
        if db_field.name == "annotators":
            kwargs["queryset"] = User.objects.filter(groups__name=ANNOTATORS, is_active=True).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Campaign, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        ensure_slots(obj)

    @admin.action(description="Open the selected campaigns")
    def open_campaigns(self, request: HttpRequest, queryset: QuerySet) -> None:
        # A campaign saved around the form's checks (a script, older data) is not opened to annotators as it is.
        refused = {c.pk: " ".join(c.settings_problems().values()) for c in queryset}
        refused = {pk: why for pk, why in refused.items() if why}
        for campaign in queryset.filter(pk__in=refused):
            self.message_user(request, f"{campaign} was not opened: {refused[campaign.pk]}", messages.ERROR)
        # Saved one by one (not a bulk update) so that opening registers the report settings in force as the
        # campaign's primary analysis (evaluation's post_save receiver).
        opened = 0
        for campaign in queryset.exclude(pk__in=refused):
            campaign.is_open = True
            campaign.save(update_fields=["is_open"])
            opened += 1
        if opened:
            self.message_user(request, f"Opened {opened}.", messages.SUCCESS)

    @admin.action(description="Close the selected campaigns")
    def close_campaigns(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(is_open=False)


@admin.register(Label)
class LabelAdmin(ResearchersOnlyAdmin):
    list_display = ["campaign", "item", "annotator", "value", "time_spent_ms", "created_at"]
    list_filter = ["campaign", "value"]
    raw_id_fields = ["item", "annotator"]
    readonly_fields = ["created_at"]

    # Labels come from annotators through the labeling pages and the API; one typed in here would be a fake vote.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(ResearchersOnlyAdmin):
    """Panel participants: made by the study link, never by hand; the researcher may only exclude one."""

    # The exclusion controls first: the list is wider than a laptop's admin pane.
    list_display = ["participant_id", "excluded", "exclusion_reason", "exclusion_record", "outcome", "campaign",
                    "study_id", "started_at", "finished_at", "code_given"]
    list_editable = ["excluded", "exclusion_reason"]
    list_filter = ["campaign", "outcome", "excluded"]
    search_fields = ["participant_id", "study_id", "session_id"]
    readonly_fields = ["campaign", "participant_id", "study_id", "session_id", "user", "started_at", "finished_at",
                       "outcome", "code_given", "exclusion_record"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Excluded by, when")
    def exclusion_record(self, obj: Participant) -> str:
        if not obj.excluded:
            return "–"
        who = obj.excluded_by.get_username() if obj.excluded_by else "not recorded"
        when = f"{obj.excluded_at:%Y-%m-%d %H:%M} UTC" if obj.excluded_at else "time not recorded"
        seen = obj.campaign.report_first_viewed_at
        after = " (after the report was first opened)" if obj.excluded_at and seen and obj.excluded_at >= seen else ""
        return f"{who}, {when}{after}"

    def save_model(self, request: HttpRequest, obj: Participant, form, change: bool) -> None:
        obj.excluding_user = request.user  # the model stamps who and when on a change of "excluded"
        super().save_model(request, obj, form, change)
