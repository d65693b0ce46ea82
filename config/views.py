from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache

from .roles import is_annotator, is_researcher


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Researchers land in the admin; an annotator with one campaign still to do goes straight to it, others see
    their campaign list."""
    if is_researcher(request.user):
        return redirect("admin:index")
    from annotation.services import shortcut_for

    campaign = shortcut_for(request.user) if is_annotator(request.user) else None
    if campaign is not None:
        return redirect("annotation:label", pk=campaign.pk)
    return redirect("annotation:index")


@never_cache  # a cached "ok" would hide an outage from the load balancer
def health(request: HttpRequest) -> JsonResponse:
    """JSON on the database, the broker and the workers; 503 when any is down. Which database, broker and worker
    hosts, and why a check failed, only for staff: to anyone else each check is up or down."""
    from .health import check_all

    report = check_all()
    status = 200 if report["ok"] else 503
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        report = {"ok": report["ok"], "checks": {name: {"ok": c["ok"]} for name, c in report["checks"].items()}}
    return JsonResponse(report, status=status)


@cache
def _favicon() -> bytes:
    return (Path(settings.BASE_DIR) / "static" / "favicon.ico").read_bytes()


def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on pages that name no icon (the admin's): the same icon, never a 404."""
    response = HttpResponse(_favicon(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
