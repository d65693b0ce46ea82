from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from config.admin import FreezingAdmin, ResearchersOnlyAdmin

from .models import ReportSettings


@admin.register(ReportSettings)
class ReportSettingsAdmin(FreezingAdmin, ResearchersOnlyAdmin):
    list_display = ["campaign", "threshold", "tie_policy", "inconclusive", "max_attention_fail_rate", "min_attention_checks",
                    "registered_at", "report_link"]
    list_select_related = ["campaign"]
    readonly_fields = ["registered_at", "updated_at"]
    # A copy goes to another campaign (one settings row per campaign): copy the campaign first.
    copy_fields = ReportSettings.frozen_fields

    @admin.display(description="Report")
    def report_link(self, obj: ReportSettings) -> str:
        return format_html('<a href="{}">open</a>', reverse("evaluation:report", args=[obj.campaign_id]))
