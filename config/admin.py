"""The admin base class shared by the apps: the admin belongs to researchers.

Access follows the researcher role (config.roles), not per-model permissions, so a researcher
account works in every app's admin without hand-picked permissions, and nobody else gets in.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .roles import is_researcher


class ResearchersOnlyAdmin(admin.ModelAdmin):
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
