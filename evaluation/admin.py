from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from config.admin import FreezingAdmin, ResearchersOnlyAdmin

from .models import Registration, ReportSettings


@admin.register(ReportSettings)
class ReportSettingsAdmin(FreezingAdmin, ResearchersOnlyAdmin):
    list_display = ["campaign", "threshold", "tie_policy", "inconclusive", "max_attention_fail_rate", "min_attention_checks",
                    "registered_at", "report_link"]
    list_select_related = ["campaign"]
    readonly_fields = ["registered_at", "updated_at", "snapshot_hash"]
    fieldsets = [
        (None, {"fields": ["campaign"]}),
        ("Primary hypothesis (the one confirmatory claim)", {
            "fields": ["target_scheme", "comparison_schemes", "endpoint", "direction", "family", "alpha"]}),
        ("Consensus rule", {"fields": ["threshold", "tie_policy", "inconclusive", "confidence"]}),
        ("Exclusion rule", {"fields": ["max_attention_fail_rate", "min_attention_checks"]}),
        ("Registration", {"fields": ["registered_at", "snapshot_hash", "updated_at"]}),
    ]
    # A copy goes to another campaign (one settings row per campaign): copy the campaign first.
    copy_fields = ReportSettings.frozen_fields

    @admin.display(description="Snapshot SHA-256")
    def snapshot_hash(self, obj: ReportSettings) -> str:
        registration = Registration.objects.filter(campaign_id=obj.campaign_id).first() if obj.pk else None
        if registration is None:
            return "none yet: stored when the campaign opens"
        return format_html('<code>{}</code> (<a href="{}">pre-registration document</a>)', registration.sha256,
                           reverse("evaluation:preregistration", args=[obj.campaign_id, "md"]))

    @admin.display(description="Report")
    def report_link(self, obj: ReportSettings) -> str:
        return format_html('<a href="{}">open</a>', reverse("evaluation:report", args=[obj.campaign_id]))
