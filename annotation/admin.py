from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from config.admin import FreezingAdmin, ResearchersOnlyAdmin
from config.roles import ANNOTATORS

from .models import Campaign, Label
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
        return data


@admin.register(Campaign)
class CampaignAdmin(FreezingAdmin, ResearchersOnlyAdmin):
    form = CampaignForm
    fields = ["name", "pool", "annotators_per_image", "instructions", "priming_count", "is_open", "annotators",
              "claim_timeout_seconds"]
    copy_fields = ("name", *Campaign.frozen_fields, "annotators", "claim_timeout_seconds")
    list_display = ["name", "pool", "is_open", "annotators_per_image", "label_count", "created_at"]
    list_filter = ["is_open"]
    search_fields = ["name"]
    filter_horizontal = ["annotators"]
    actions = ["open_campaigns", "close_campaigns"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_labels=Count("labels"))

    @admin.display(description="Labels", ordering="n_labels")
    def label_count(self, obj: Campaign) -> int:
        return obj.n_labels

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
