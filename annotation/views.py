"""The annotator's pages: campaign list, priming, labeling, done; and the image views.

The labeling page is a thin shell: its script talks to the JSON API (annotation/api.py), so the browser and
any other client go through the same rules.
"""

from __future__ import annotations

import base64

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config.roles import is_annotator, is_researcher

from . import access, panel, services
from .access import campaign_for_annotator, campaign_for_viewer
from .images import BadImage, priming_png, stored_png
from .models import LabelValue

KEYS = [(str(i + 1), value, text) for i, (value, text) in enumerate(LabelValue.choices)]


def png_response(data: bytes) -> HttpResponse:
    """Bare image bytes: no file name, no dates, no validators, nothing cached on the way."""
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, no-store, max-age=0"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The campaign list. An annotator sees each of their campaigns with their own progress in it; it never
    redirects, so the "Your campaigns" link of the done page lands here (the home page is the shortcut)."""
    if is_researcher(request.user):
        from .models import Campaign

        return render(request, "annotation/index.html", {"campaigns": Campaign.objects.all(), "rows": None})
    if not is_annotator(request.user):
        raise Http404
    return render(request, "annotation/index.html", {"rows": services.campaign_rows(request.user)})


def _closed(request: HttpRequest, campaign) -> HttpResponse:
    """A closed campaign: a panel participant goes to their completion page (their code), anyone else is told."""
    finish_url = panel.finish_url(panel.session_study(request), campaign.pk)
    if finish_url:
        return redirect(finish_url)
    return render(request, "annotation/closed.html", {"campaign": campaign}, status=410)


@login_required
@require_http_methods(["GET", "POST"])
def priming(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for_annotator(request.user, pk, with_priming=request.method == "GET")
    if not campaign.is_open:
        return _closed(request, campaign)
    if request.method == "POST":
        services.mark_primed(campaign, request.user)
        return redirect("annotation:label", pk=campaign.pk)
    # The grid is in the page itself: one request less on the way to the first image.
    grid = "data:image/png;base64," + base64.b64encode(priming_png(campaign)).decode("ascii")
    return render(request, "annotation/priming.html", {"campaign": campaign, "seen": campaign.primed, "grid": grid})


@login_required
def label(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for_annotator(request.user, pk, with_priming=True)
    if not campaign.is_open:
        return _closed(request, campaign)
    if not campaign.primed:
        return redirect("annotation:priming", pk=campaign.pk)
    context = {
        "campaign": campaign,
        "keys": KEYS,
        "undo_seconds": services.UNDO_SECONDS,
        "api": {
            "next": reverse("annotation_api:next", args=[campaign.pk]),
            "labels": reverse("annotation_api:submit", args=[campaign.pk]),
            "undo": reverse("annotation_api:undo", args=[campaign.pk]),
            "progress": reverse("annotation_api:progress", args=[campaign.pk]),
            "done": panel.finish_url(panel.session_study(request), campaign.pk)
            or reverse("annotation:done", args=[campaign.pk]),
        },
    }
    return render(request, "annotation/label.html", context)


@login_required
def done(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for_annotator(request.user, pk)
    finish_url = panel.finish_url(panel.session_study(request), campaign.pk)
    if finish_url:
        return redirect(finish_url)
    return render(request, "annotation/done.html", {"campaign": campaign, "progress": services.progress(campaign, request.user)})


@login_required
def priming_image(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for_viewer(request.user, pk)
    if not campaign.is_open and not is_researcher(request.user):
        raise Http404
    return png_response(priming_png(campaign))


@login_required
def item_image(request: HttpRequest, public_id: str) -> HttpResponse:
    field = access.item_image(request.user, public_id)
    if field is None:
        raise Http404
    try:
        return png_response(stored_png(field))
    except (BadImage, OSError):
        raise Http404 from None
