"""Reports and CSV downloads, for researchers only.

Anonymous visitors are sent to the login page; a logged-in user who is not a researcher gets 404, so
the pages do not even confirm that a campaign exists.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotation.models import Campaign, StudyLink
from config.roles import is_researcher

from . import csv_export, hypothesis, power
from .charts import fraction_chart
from .collection import speeder_floor_ms
from .models import Registration, ReportSettings
from .participants import participant_rows, participant_table
from .reports import GALLERY_SIZE, LABEL_NAMES, build_report


def researcher_required(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_researcher(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _campaign(campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("pool__job__trained_model"), pk=campaign_id)


@researcher_required
def index(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.select_related("pool").order_by("-created_at")
    return render(request, "evaluation/index.html", {"campaigns": campaigns})


@researcher_required
def report(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    campaign.note_report_viewed()  # before the figures: an exclusion made from now on comes after seeing them
    data = build_report(campaign)
    context = {
        "report": data,
        "label_names": LABEL_NAMES,
        "chart": fraction_chart(data.schemes, LABEL_NAMES),
        "chance_rows": list(zip(LABEL_NAMES, data.chance_labels, strict=True)),
        "consensus_problem": data.settings.consensus_problem(),
        "gallery_size": GALLERY_SIZE,
        "has_participants": StudyLink.objects.filter(campaign=data.campaign).exists(),
    }
    return render(request, "evaluation/report.html", context)


@researcher_required
def download(request: HttpRequest, campaign_id: int, kind: str) -> HttpResponse:
    campaign = _campaign(campaign_id)
    if kind == "participants":
        body = csv_export.render(participant_rows(campaign))
    elif kind in csv_export.KINDS:
        # Only the summary carries intervals and tests: the other files skip the resampling.
        body = csv_export.render(csv_export.KINDS[kind](build_report(campaign, inference=kind == "summary")))
    else:
        raise Http404
    if kind != "participants":
        campaign.note_report_viewed()
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-{kind}.csv"'
    return response


@researcher_required
def participants(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    link = StudyLink.objects.filter(campaign=campaign).first()
    context = {"campaign": campaign, "link": link, "rows": participant_table(campaign), "floor_ms": speeder_floor_ms()}
    return render(request, "evaluation/participants.html", context)


@researcher_required
def preregistration(request: HttpRequest, campaign_id: int, fmt: str) -> HttpResponse:
    """The pre-registration to deposit before the first label: Markdown, or the JSON snapshot its hash is of."""
    if fmt not in ("md", "json"):
        raise Http404
    campaign = _campaign(campaign_id)
    markdown, text = hypothesis.document(ReportSettings.for_campaign(campaign),
                                         Registration.objects.filter(campaign=campaign).first())
    body, content_type = (markdown, "text/markdown") if fmt == "md" else (text, "application/json")
    response = HttpResponse(body.encode(), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-preregistration.{fmt}"'
    return response


@researcher_required
def power_planner(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """How likely the frozen primary test is to support the hypothesis, for assumed L1 rates (a simulation)."""
    campaign = _campaign(campaign_id)
    settings = ReportSettings.for_campaign(campaign)
    # Always bound: the first visit answers for the campaign's own numbers and the default rates.
    form = power.PlanForm(settings, request.GET)
    result = power.simulate(settings, form.plan()) if form.is_valid() else None
    context = {"campaign": campaign, "settings": settings, "form": form, "result": result,
               "statement": hypothesis.statement(settings),
               "rest_split": " : ".join(f"{p:.0%}" for p in power.REST_SPLIT)}
    return render(request, "evaluation/power.html", context)
