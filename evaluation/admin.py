from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import ReportSettings


@admin.register(ReportSettings)
class ReportSettingsAdmin(admin.ModelAdmin):
    list_display = ["campaign", "threshold", "tie_policy", "max_attention_fail_rate", "min_attention_checks", "report_link"]
    list_select_related = ["campaign"]
    autocomplete_fields: list[str] = []

    @admin.display(description="Report")
    def report_link(self, obj: ReportSettings) -> str:
        return format_html('<a href="{}">open</a>', reverse("evaluation:report", args=[obj.campaign_id]))
