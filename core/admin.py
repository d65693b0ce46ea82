from django.contrib import admin
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from config.admin import ResearchersOnlyAdmin

from .models import WorkerProbe

# The admin is the researchers' workplace; the site they "view" from it is the reports.
admin.site.site_header = "Creative decoder platform"
admin.site.site_title = "Creative decoder admin"
admin.site.index_title = "Study"
admin.site.site_url = "/reports/"


@admin.register(WorkerProbe)
class WorkerProbeAdmin(ResearchersOnlyAdmin):
    """Written by workers when probed (`manage.py probe_worker`): read, never added or edited by hand."""

    list_display = ["created", "hostname", "pid", "device", "token"]
    readonly_fields = ["created", "hostname", "pid", "device", "token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# API tokens are made for scripts (`manage.py drf_create_token USER`), not in a study: kept out of the index,
# still at /admin/authtoken/tokenproxy/ for the superuser.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class HiddenTokenAdmin(TokenAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return False
