"""Study links: participants from a panel (Prolific, MTurk, a university pool) enrol themselves.

A participant arrives by the campaign's secret link with their panel ids in the query string, agrees to the
consent text, and gets a pseudonymous annotator account made for their participant id; the same id coming back
(from any browser) is logged into the same account, so it keeps its labels and its order of images. After
`quota` images they get a completion code that depends on the outcome, and go back to the panel.

Where the rules live:
- which link and which ids (the secret compared in constant time, ids checked for length and alphabet): here;
- what a participant's session may reach (its own campaign's pages and API, nothing else) and that a revoked
  link stops it at once: ParticipantScopeMiddleware, below;
- the quota: the API's next and submit answers (annotation/api.py), through `session_quota`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from config.roles import ANNOTATORS

from . import services
from .models import Campaign, CampaignItem, Label, Outcome, Panel, Participant, StudyLink, link_active_key

SESSION_KEY = "study"
# Panel ids are short tokens (Prolific: 24 hex digits, MTurk: 12-14 capitals and digits); anything else is refused
# before it reaches the database, a page or a CSV.
PANEL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Compared against when the link id is unknown, so a wrong id and a wrong secret take the same time.
_NO_SECRET = secrets.token_urlsafe(24)


class BadPanelIds(Exception):
    """The query string lacks the participant id, or an id is not a panel id."""


@dataclass(frozen=True)
class PanelIds:
    participant: str
    study: str = ""
    session: str = ""


def find_link(link_id: str, secret: str) -> StudyLink | None:
    """The link with this id, if `secret` is its secret (compared in constant time); None otherwise. It carries
    `room`: whether some image of its campaign has a free slot (known in the same query; see has_room)."""
    room = CampaignItem.objects.filter(campaign_id=OuterRef("campaign_id"),
                                       labels_count__lt=F("capacity") - F("claims_count"))
    link = (StudyLink.objects.select_related("campaign").annotate(room=Exists(room))
            .filter(link_id=link_id).first())
    expected = link.secret if link is not None else _NO_SECRET
    matches = hmac.compare_digest(expected.encode(), secret.encode())
    if link is None or not matches:
        return None
    remember_link(link.pk, link.is_active)
    return link


# Whether a link is active, read by ParticipantScopeMiddleware on every request of a participant's session; kept in
# the cache and cleared whenever a link is saved, updated or deleted (signals below, StudyLinkQuerySet.update), so a
# revocation stops sessions at once.
def remember_link(link_pk: int, active: bool) -> None:
    cache.set(link_active_key(link_pk), active, 3600)


def link_is_active(link_pk: int) -> bool:
    active = cache.get(link_active_key(link_pk))
    if active is None:
        active = StudyLink.objects.filter(pk=link_pk, is_active=True).exists()
        remember_link(link_pk, active)
    return active


@receiver([post_save, post_delete], sender=StudyLink, dispatch_uid="study-link-active")
def _forget_link(sender, instance: StudyLink, **kwargs) -> None:
    cache.delete(link_active_key(instance.pk))


def panel_ids(link: StudyLink, query, request: HttpRequest) -> PanelIds:
    """The participant's panel ids from the query string, checked; "none" mode: one random id per browser."""
    participant_param, study_param, session_param = link.parameters()
    if link.panel == Panel.NONE and not link.participant_param:
        pending = request.session.get(f"{SESSION_KEY}-anonymous-{link.pk}")
        if pending is None:
            pending = "anon-" + secrets.token_hex(8)
            request.session[f"{SESSION_KEY}-anonymous-{link.pk}"] = pending
        return PanelIds(pending)
    values = []
    for name, required in ((participant_param, True), (study_param, False), (session_param, False)):
        value = query.get(name, "") if name else ""
        if not value:
            if required:
                raise BadPanelIds(f"This link is missing your participant id ({name}).")
            values.append("")
            continue
        if not PANEL_ID.fullmatch(value):
            raise BadPanelIds(f"The {name} in this link is not a valid id: it should be up to 64 letters, digits, "
                              "dashes or underscores.")
        values.append(value)
    return PanelIds(*values)


def has_room(link: StudyLink) -> bool:
    """Whether a newcomer would get an image now: some image still lacks votes and is not held by others. The
    answer find_link read serves while it is yes; no is checked again after the sweep of abandoned claims."""
    if getattr(link, "room", False):
        return True
    campaign = link.campaign
    services.release_expired_claims_now_and_then(campaign)
    if not CampaignItem.objects.filter(campaign=campaign).exists():
        services.ensure_slots(campaign)
    return CampaignItem.objects.filter(
        campaign=campaign, labels_count__lt=F("capacity") - F("claims_count")).exists()


def note_if_full(link: StudyLink) -> bool:
    """The link closes itself once every image has its votes: record when (shown to the researcher)."""
    full = not CampaignItem.objects.filter(campaign_id=link.campaign_id, labels_count__lt=F("capacity")).exists()
    if full and link.full_since is None:
        StudyLink.objects.filter(pk=link.pk, full_since=None).update(full_since=timezone.now())
    return full


def _new_account(campaign: Campaign) -> User:
    """A pseudonymous annotator: a random name, no password (the link is the only way in), no e-mail."""
    user = User(username=f"panel-{campaign.pk}-{secrets.token_hex(6)}", last_login=timezone.now())
    user.set_unusable_password()
    user.save()
    user.groups.add(Group.objects.get_or_create(name=ANNOTATORS)[0])
    campaign.annotators.add(user)
    return user


def enrol(link: StudyLink, ids: PanelIds, existing: Participant | None) -> Participant:
    """The participant with this id, made with an account if new (`existing`: the row the caller just read, without
    an account, or None). One id, one account: two browsers arriving at once both end up in the account that the
    unique constraint let through."""
    campaign = link.campaign
    try:
        if existing is not None:  # came when nothing was left, and now there is work again
            with transaction.atomic():
                existing.user = _new_account(campaign)
                existing.outcome, existing.code_given, existing.finished_at = "", "", None
                existing.save(update_fields=["user", "outcome", "code_given", "finished_at"])
            return existing
        participant = Participant(campaign=campaign, participant_id=ids.participant, study_id=ids.study,
                                  session_id=ids.session)
        if connection.vendor == "postgresql":
            return _create_in_one_statement(participant)
        with transaction.atomic():
            participant.user = _new_account(campaign)
            participant.save(force_insert=True)
        return participant
    except IntegrityError:
        winner = Participant.objects.filter(campaign=campaign, participant_id=ids.participant).first()
        if winner is None:  # not the participant's unique constraint: a real error
            raise
        return winner


def _insert(obj, skip: tuple[str, ...] = ()) -> tuple[str, list[str], list]:
    """(table, columns, values) of the INSERT Django would send for a new row (defaults and auto_now_add applied)."""
    fields = [f for f in obj._meta.concrete_fields if not f.primary_key and f.attname not in skip]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    return obj._meta.db_table, [connection.ops.quote_name(f.column) for f in fields], values


def _create_in_one_statement(participant: Participant) -> Participant:
    """The account, its group, its membership of the campaign and the participant row in one statement (atomic
    by itself, so no transaction around it): arrivals come by the hundred when a study launches. A second browser
    with the same id fails on the participant's unique constraint, and nothing of the statement is kept."""
    user = User(username=f"panel-{participant.campaign_id}-{secrets.token_hex(6)}", last_login=timezone.now())
    user.set_unusable_password()
    u_table, u_cols, u_values = _insert(user)
    p_table, p_cols, p_values = _insert(participant, skip=("user_id",))
    group = Group._meta.db_table
    sql = (
        f"WITH u AS (INSERT INTO {u_table} ({', '.join(u_cols)}) VALUES ({', '.join(['%s'] * len(u_cols))}) "
        f"RETURNING id), "
        # The annotators' group, made if missing (a row this statement inserts is seen only through RETURNING).
        f"ng AS (INSERT INTO {group} (name) VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING id), "
        f"g AS (INSERT INTO {User.groups.through._meta.db_table} (user_id, group_id) SELECT u.id, "
        f"COALESCE((SELECT id FROM ng), (SELECT id FROM {group} WHERE name = %s)) FROM u), "
        f"a AS (INSERT INTO {Campaign.annotators.through._meta.db_table} (campaign_id, user_id) SELECT %s, id FROM u) "
        f"INSERT INTO {p_table} ({', '.join(p_cols)}, user_id) "
        f"VALUES ({', '.join(['%s'] * len(p_cols))}, (SELECT id FROM u)) RETURNING id, user_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*u_values, ANNOTATORS, ANNOTATORS, participant.campaign_id, *p_values])
        participant.pk, user.pk = cursor.fetchone()
    participant._state.adding = user._state.adding = False
    participant.user = user
    return participant


def record_late_arrival(link: StudyLink, ids: PanelIds) -> Participant:
    """A participant who came when no image was left: kept (with the "no work left" code) so the researcher
    can pay them on the panel, but given no account."""
    participant, _ = Participant.objects.get_or_create(
        campaign=link.campaign, participant_id=ids.participant,
        defaults={"study_id": ids.study, "session_id": ids.session, "outcome": Outcome.NO_WORK,
                  "code_given": link.code_no_work, "finished_at": timezone.now()})
    return participant


def start_session(request: HttpRequest, link: StudyLink, participant: Participant) -> None:
    """Log the participant's account in, and remember which campaign and link this session is limited to."""
    from django.contrib.auth import login

    login(request, participant.user, backend=settings.AUTHENTICATION_BACKENDS[0])
    request.session[SESSION_KEY] = {"link": link.pk, "link_id": link.link_id, "campaign": link.campaign_id,
                                    "participant": participant.pk, "quota": link.quota}


def session_study(request: HttpRequest) -> dict | None:
    session = getattr(request, "session", None)
    return session.get(SESSION_KEY) if session is not None else None


def session_quota(request, campaign_pk: int) -> int | None:
    """The participant's quota in this campaign, None for anyone who did not come by a study link."""
    study = session_study(getattr(request, "_request", request))
    return study["quota"] if study and study["campaign"] == campaign_pk else None


def capped(progress: services.Progress, quota: int | None) -> services.Progress:
    """Progress out of the quota (or out of what is left, when fewer images than that remain)."""
    if quota is None:
        return progress
    return services.Progress(done=min(progress.done, quota), total=min(progress.total, quota))


def attention_rule(campaign: Campaign) -> tuple[int, float]:
    """The report's exclusion rule (min attention checks answered, max share failed): its settings or defaults."""
    try:
        s = campaign.report_settings
        return s.min_attention_checks, s.max_attention_fail_rate
    except ObjectDoesNotExist:
        model = campaign._meta.get_field("report_settings").related_model
        return (model._meta.get_field("min_attention_checks").default,
                model._meta.get_field("max_attention_fail_rate").default)


ATTENTION_EXPECTED = "not_novel"  # an attention check shows a training image: "not novel or creative"


def attention_counts(campaign: Campaign, user: AbstractBaseUser) -> tuple[int, int]:
    """(attention checks answered, failed) by one annotator."""
    checks = Label.objects.filter(campaign=campaign, annotator=user, item__sample=None)
    seen = checks.count()
    return seen, seen and checks.filter(~Q(value=ATTENTION_EXPECTED)).count()


def finish(link: StudyLink, participant: Participant) -> Participant:
    """Decide the outcome and the code once (a reload or a second browser shows the same code)."""
    if participant.code_given:
        return participant
    campaign = link.campaign
    labels = Label.objects.filter(campaign=campaign, annotator_id=participant.user_id).count()
    seen, failed = attention_counts(campaign, participant.user)
    min_checks, max_rate = attention_rule(campaign)
    if labels == 0:
        outcome, code = Outcome.NO_WORK, link.code_no_work
    elif seen >= min_checks and seen and failed / seen > max_rate:
        outcome, code = Outcome.FAILED_CHECKS, link.code_failed_checks
    else:
        outcome, code = Outcome.COMPLETED, link.code_completed
    Participant.objects.filter(pk=participant.pk, code_given="").update(
        outcome=outcome, code_given=code, finished_at=timezone.now())
    participant.refresh_from_db()
    return participant


def completion_url(link: StudyLink, code: str) -> str:
    return link.completion_url.replace("{code}", quote(code, safe="")) if link.completion_url else ""


# --- What a participant's session may reach -------------------------------------------------------------------

def _allowed(path: str, study: dict) -> bool:
    c = study["campaign"]
    patterns = (
        rf"/annotate/{c}/(priming/|priming\.png|done/)?",
        r"/annotate/image/[A-Za-z0-9_-]+\.png",
        rf"/api/campaigns/{c}/(next|labels|undo|progress|priming)/",
        r"/accounts/logout/",
        r"/favicon\.ico",
    )
    return any(re.fullmatch(p, path) for p in patterns)


class ParticipantScopeMiddleware:
    """A session made by a study link reaches its campaign's labeling pages and API only: every other page is a
    404, and the site's front pages lead back to the labeling page. Once the link is revoked, the session ends on
    its next request (pages show the "closed" page; the API answers campaign_closed, which the labeling page
    turns into a reload). Study links themselves stay reachable: a participant may take part in another study."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        study = session_study(request)
        if not study or request.path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/")
                                                else "/" + settings.STATIC_URL):
            return self.get_response(request)
        if request.path.startswith("/annotate/study/"):
            return self.get_response(request)  # any study link (another study's too): the link decides
        if not link_is_active(study["link"]):
            # Revoked: every request of the session stops here (and goes on again if the link is reactivated).
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "campaign_closed", "detail": "This study has been closed."}, status=409)
            return render(request, "annotation/study/closed.html", status=410)
        if request.path in ("/", "/annotate/"):
            return redirect("annotation:label", pk=study["campaign"])
        if not _allowed(request.path, study):
            raise Http404
        return self.get_response(request)


def finish_url(study: dict | None, campaign_pk: int) -> str | None:
    """Where the labeling page sends a participant who is done: the completion page of their link."""
    if study and study["campaign"] == campaign_pk:
        return reverse("annotation:study_finish", args=[study["link_id"]])
    return None
