"""The pages of a study link: arrival and consent, and the completion page (annotation/panel.py has the rules).

Every way a participant can fail to start is a page that says why in plain words, never an error page:
a revoked link, a missing or malformed id, too many new accounts at once, no image left.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from . import panel, services
from .models import Participant, StudyLink

# How long one participant id stays counted against the enrolment limits (longer than their periods).
ENROL_COUNTED_SECONDS = 24 * 3600


def _link_key(group: str, request: HttpRequest) -> str:
    return request.study_link_id


def _too_many_new_participants(request: HttpRequest, link: StudyLink, ids: panel.PanelIds) -> bool:
    """Per network address and per link: a script cannot mint accounts (each one takes a share of the votes), nor
    fill the participants table. One participant id counts once: consents sent at the same instant from several
    tabs (or a double click) make one account, so only the first of them is counted."""
    request.study_link_id = link.link_id
    first = cache.add(f"study-enrol-counted:{link.pk}:{ids.participant}", True, ENROL_COUNTED_SECONDS)
    by_ip = is_ratelimited(request, group="study-enrol-ip", key="ip", rate=settings.STUDY_ENROL_RATE_PER_IP,
                           method=ALL, increment=first)
    by_link = is_ratelimited(request, group="study-enrol-link", key=_link_key, rate=settings.STUDY_ENROL_RATE_PER_LINK,
                             method=ALL, increment=first)
    return by_ip or by_link


def _no_work(request: HttpRequest, link: StudyLink, ids: panel.PanelIds, known: Participant | None) -> HttpResponse:
    code = link.code_no_work
    if known is not None:
        code = known.code_given or code
    elif request.method != "HEAD" and not _too_many_new_participants(request, link, ids):  # listed for the researcher, within the same limits
        code = panel.record_late_arrival(link, ids).code_given or code
    context = {"link": link, "code": code, "next_url": panel.completion_url(link, code)}
    return render(request, "annotation/study/no_work.html", context)


def _resume(request: HttpRequest, link: StudyLink, participant: Participant, *, new: bool = False) -> HttpResponse:
    panel.start_session(request, link, participant)
    if participant.code_given:
        return redirect("annotation:study_finish", link_id=link.link_id)
    if new:  # straight to the instructions and priming images, which the labeling page would send them to
        return redirect("annotation:priming", pk=link.campaign_id)
    return redirect("annotation:label", pk=link.campaign_id)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])  # HEAD: a link checker or a chat preview; it makes nothing
def arrive(request: HttpRequest, link_id: str, secret: str) -> HttpResponse:
    link = panel.find_link(link_id, secret)
    if link is None:
        raise Http404
    if not link.is_active:
        return render(request, "annotation/study/closed.html", status=410)
    try:
        ids = panel.panel_ids(link, request.GET, request)
    except panel.BadPanelIds as exc:
        return render(request, "annotation/study/bad_link.html", {"problem": str(exc)}, status=400)

    participant = Participant.objects.filter(campaign=link.campaign, participant_id=ids.participant).first()
    if participant is not None and participant.user_id is not None:
        return _resume(request, link, participant)  # the same id from any browser: the same account
    if not link.campaign.is_open or not panel.has_room(link):
        panel.note_if_full(link)
        return _no_work(request, link, ids, participant)
    if request.method in ("GET", "HEAD"):
        return render(request, "annotation/study/consent.html", {"link": link, "action": request.get_full_path()})

    if _too_many_new_participants(request, link, ids):
        return render(request, "annotation/study/busy.html", status=429)
    return _resume(request, link, panel.enrol(link, ids, participant), new=True)


@never_cache
def finish(request: HttpRequest, link_id: str) -> HttpResponse:
    """The completion page: the code for the outcome, and the way back to the panel."""
    study = panel.session_study(request)
    if not study or study["link_id"] != link_id or not request.user.is_authenticated:
        raise Http404
    link = StudyLink.objects.select_related("campaign").get(pk=study["link"])
    participant = Participant.objects.get(pk=study["participant"])
    if not participant.code_given:
        progress = panel.capped(services.progress(link.campaign, request.user), link.quota)
        if progress.done < progress.total and link.campaign.is_open:
            return redirect("annotation:label", pk=link.campaign_id)  # not done yet: back to work
        participant = panel.finish(link, participant)
        panel.note_if_full(link)
    next_url = panel.completion_url(link, participant.code_given)
    labels = services.progress(link.campaign, request.user).done
    context = {"link": link, "participant": participant, "code": participant.code_given, "next_url": next_url,
               "labels": labels}
    return render(request, "annotation/study/finished.html", context)
