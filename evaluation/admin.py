from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from config.roles import is_researcher

from .models import ReportSettings


@admin.register(ReportSettings)
class ReportSettingsAdmin(admin.ModelAdmin):
    list_display = ["campaign", "threshold", "tie_policy", "inconclusive", "max_attention_fail_rate", "min_attention_checks",
                    "report_link"]
    list_select_related = ["campaign"]
    readonly_fields = ["updated_at"]

    # The report's rule is the researchers' to set, whatever model permissions their accounts were given.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_researcher(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_researcher(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)

    @admin.display(description="Report")
    def report_link(self, obj: ReportSettings) -> str:
        return format_html('<a href="{}">open</a>', reverse("evaluation:report", args=[obj.campaign_id]))
