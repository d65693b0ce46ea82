"""The annotation API (DRF): next image, submit a label, undo, progress, my labels.

Answers name images by their opaque public id and an image URL, and never carry a scheme, a job, a sample or
a file name; nor, for annotators, a label id (the table's sequence would count everybody's labels). Session and
token authentication, JSON bodies read strictly, per-user rate limits (settings.REST_FRAMEWORK, config/api_edge.py).
The serializers below also describe every answer in the OpenAPI schema (/api/schema/).
"""

from __future__ import annotations

import base64
from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_edge import (
    DB_INT_MAX,
    PUBLIC_ID_PATTERN,
    ErrorSerializer,
    db_int,
    is_public_id,
)
from config.roles import is_annotator, is_researcher
from generation.models import PoolItem

from . import panel, services
from .access import campaign_for_annotator, campaign_for_viewer
from .images import BadImage, stored_png
from .models import Campaign, Label, LabelValue


def item_payload(item: PoolItem | None) -> dict[str, str] | None:
    """The image handed out: its opaque id, its URL, and the (stripped) PNG itself as a data URL, so the labeling
    page shows it without a second request per label. A file that cannot be read leaves the URL only."""
    if item is None:
        return None
    payload = {"id": item.public_id, "image": reverse("annotation:image", args=[item.public_id])}
    field = item.image_file  # the services hand items out with it loaded
    if field:
        try:
            payload["data_url"] = "data:image/png;base64," + base64.b64encode(stored_png(field)).decode("ascii")
        except (BadImage, OSError):
            pass
    return payload


def error(exc: services.AnnotationError) -> Response:
    return Response({"error": exc.code, "detail": exc.message}, status=exc.status)


class LabelSerializer(serializers.Serializer):
    """Read-only, an annotator's view of a label: no id. Fields declared by hand rather than a ModelSerializer: it
    answers every label, and the ModelSerializer's per-instance model introspection cost more than the rest."""

    campaign = serializers.IntegerField(source="campaign_id")
    item = serializers.CharField(source="item.public_id")
    value = serializers.CharField()
    time_spent_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class ResearcherLabelSerializer(LabelSerializer):
    id = serializers.IntegerField()
    annotator = serializers.CharField(source="annotator.get_username")


# --- Shapes for the schema only (the views build their answers as plain dicts, on the hot path) ---


class ListedLabel(LabelSerializer):
    id = serializers.IntegerField(required=False, help_text="Researchers only.")
    annotator = serializers.CharField(required=False, help_text="Researchers only.")


class LabelPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ListedLabel(many=True)


class ItemShape(serializers.Serializer):
    id = serializers.CharField(help_text="The image's opaque id.")
    image = serializers.CharField(help_text="The image's URL.")
    data_url = serializers.CharField(required=False, help_text="The PNG itself (absent if the file is unreadable).")


class ProgressShape(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class CampaignShape(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_open = serializers.BooleanField()


class CampaignsAnswer(serializers.Serializer):
    campaigns = CampaignShape(many=True)


class NextAnswer(serializers.Serializer):
    item = ItemShape(allow_null=True, help_text="null when nothing is left for the caller.")
    done = serializers.BooleanField()
    progress = ProgressShape()


class LabelRequest(serializers.Serializer):
    item = serializers.RegexField(PUBLIC_ID_PATTERN, help_text="The id of the image the caller holds.")
    value = serializers.ChoiceField(choices=LabelValue.values)
    time_spent_ms = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="Milliseconds; measured by the server when absent."
    )
    next = serializers.BooleanField(required=False, help_text="Also hand out the next image in the answer.")


LABEL_FIELDS = set(LabelRequest().fields)


class LabelAnswer(serializers.Serializer):
    label = LabelSerializer()
    progress = ProgressShape()
    item = ItemShape(required=False, allow_null=True, help_text='With "next": the next image.')
    done = serializers.BooleanField(required=False, help_text='With "next".')
    next_error = serializers.BooleanField(required=False, help_text="The label is stored; ask /next/ for the reason.")


class UndoAnswer(serializers.Serializer):
    item = ItemShape(help_text="The image given back to label again.")
    progress = ProgressShape()


class ProgressAnswer(serializers.Serializer):
    progress = ProgressShape()
    is_open = serializers.BooleanField()


class PrimedAnswer(serializers.Serializer):
    primed = serializers.BooleanField()


class LabelQuery(serializers.Serializer):
    campaign = serializers.IntegerField(required=False, min_value=0, max_value=DB_INT_MAX)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=DB_INT_MAX, help_text="At most 1000 labels a page (also the default)."
    )
    offset = serializers.IntegerField(required=False, min_value=0, max_value=DB_INT_MAX)


def refusals(*statuses: int) -> dict[int, OpenApiResponse]:
    """Every refusal an endpoint can answer, all in the one error shape."""
    meaning = {
        400: "malformed: bad JSON, a value that cannot be stored, an unknown field, a bad query parameter or address; "
             "invalid_label",
        403: "not_authenticated; authentication_failed: an unknown token; permission_denied (e.g. no CSRF token)",
        404: "not_found: no such campaign, or not the caller's",
        405: "method_not_allowed",
        406: "not_acceptable: the API answers JSON only (an Accept header without application/json)",
        409: "campaign_closed, priming_required, not_assigned, already_labelled, nothing_to_undo",
        413: "too_large: a body over the limit",
        415: "unsupported_media_type: not a JSON body",
        429: "throttled: over the per-user rate limit (Retry-After says when to retry)",
        503: "busy: try again",
    }
    every = (400, 403, 404, 405, 406, 413, 415, 429, *statuses)
    return {code: OpenApiResponse(ErrorSerializer, description=meaning[code]) for code in sorted(set(every))}


class LabelPagination(LimitOffsetPagination):
    default_limit = 1000
    max_limit = 1000

    def get_limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        return self.default_limit if raw is None else min(db_int(raw, "limit", minimum=1), self.max_limit)

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        return 0 if raw is None else db_int(raw, "offset")


class CampaignList(APIView):
    @extend_schema(responses={200: CampaignsAnswer, **refusals()}, summary="The caller's campaigns (researchers: all).")
    def get(self, request: Request) -> Response:
        if is_researcher(request.user):
            campaigns = Campaign.objects.all()
        elif is_annotator(request.user):
            campaigns = services.campaigns_for(request.user)
        else:
            campaigns = Campaign.objects.none()
        data = [{"id": c.pk, "name": c.name, "is_open": c.is_open} for c in campaigns]
        return Response({"campaigns": data})


class CampaignAction(APIView):
    """Base for actions of an annotator in one of their campaigns."""

    def campaign(self, pk: int) -> Campaign:
        return campaign_for_annotator(self.request.user, pk)


class NextImage(CampaignAction):
    @extend_schema(
        summary="The image to label now (the one held, or a new one).",
        request=None, responses={200: NextAnswer, **refusals(409, 503)},
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        quota = panel.session_quota(request, campaign.pk)
        progress = None
        if quota is not None:
            # A participant from a panel stops at their quota.
            progress = services.progress(campaign, request.user)
            if progress.done >= quota:
                return Response({"item": None, "done": True, "progress": panel.capped(progress, quota).as_dict()})
        try:
            item = services.next_item(campaign, request.user)
        except services.AnnotationError as exc:
            return error(exc)
        if progress is None or item is None:
            progress = services.progress(campaign, request.user)
        # else: the count read above still holds: handing out an image moves it from "open" to "held by me", and
        # both count in the total.
        return Response({"item": item_payload(item), "done": item is None,
                         "progress": panel.capped(progress, quota).as_dict()})


class SubmitLabel(CampaignAction):
    @extend_schema(
        summary="Label the image held; with next, get the next one too.",
        request=LabelRequest, responses={201: LabelAnswer, **refusals(409, 503)},
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        body: Any = request.data
        if not isinstance(body, dict) or not is_public_id(body.get("item")):
            return Response(
                {"error": "malformed", "detail": 'Send a JSON object: {"item": "<image id>", "value": "<label>"}.'},
                status=status.HTTP_400_BAD_REQUEST,
            )
        unknown = sorted(set(body) - LABEL_FIELDS)
        if unknown:  # the schema lists every field (additionalProperties: false); a typo is not silently dropped
            return Response({"error": "malformed", "detail": f"Unknown field(s): {', '.join(unknown)[:200]}."},
                            status=400)
        if not isinstance(body.get("next", False), bool):
            return Response({"error": "malformed", "detail": '"next" must be true or false.'}, status=400)
        try:
            label = services.submit_label(campaign, request.user, body["item"], body.get("value"), body.get("time_spent_ms"))
        except services.AnnotationError as exc:
            return error(exc)
        answer: dict[str, Any] = {"label": LabelSerializer(label).data}
        quota = panel.session_quota(request, campaign.pk)
        if quota is not None:
            progress = services.progress(campaign, request.user)
            if progress.done >= quota:  # a participant's quota is full: no next image
                answer.update(item=None, done=True, progress=panel.capped(progress, quota).as_dict())
                return Response(answer, status=status.HTTP_201_CREATED)
        if body.get("next"):
            # Label and ask for the next image in one round trip: what the labeling page does.
            try:
                # Just labelled, so primed, the campaign open, and no claim held.
                item = services.next_item(campaign, request.user, holds_nothing=True)
            except services.AnnotationError:
                item = None  # the label is stored; the client asks /next/ itself and gets the reason there
                answer["next_error"] = True
            answer.update(item=item_payload(item), done=item is None and "next_error" not in answer)
        answer["progress"] = panel.capped(services.progress(campaign, request.user), quota).as_dict()
        return Response(answer, status=status.HTTP_201_CREATED)


class Undo(CampaignAction):
    @extend_schema(request=None, responses={200: UndoAnswer, **refusals(409)}, summary="Delete the caller's last label (if recent) and hold its image again.")
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        try:
            item = services.undo_last(campaign, request.user)
        except services.AnnotationError as exc:
            return error(exc)
        progress = panel.capped(services.progress(campaign, request.user), panel.session_quota(request, pk)).as_dict()
        return Response({"item": item_payload(item), "progress": progress})


class Progress(CampaignAction):
    @extend_schema(
        summary="How many images the caller labelled, of how many.",
        responses={200: ProgressAnswer, **refusals()},
    )
    def get(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        progress = panel.capped(services.progress(campaign, request.user), panel.session_quota(request, pk))
        return Response({"progress": progress.as_dict(), "is_open": campaign.is_open})


class Primed(CampaignAction):
    @extend_schema(
        summary="Record that the caller studied the priming images.",
        request=None, responses={200: PrimedAnswer, **refusals(409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        if not campaign.is_open:
            return error(services.CampaignClosed("This campaign is closed."))
        services.mark_primed(campaign, request.user)
        return Response({"primed": True})


class LabelList(APIView):
    """Annotators get their own labels only; researchers everybody's."""

    @extend_schema(parameters=[LabelQuery], responses={200: LabelPage, **refusals()}, summary="Labels: annotators their own (no ids), researchers everyone's.")
    def get(self, request: Request) -> Response:
        researcher = is_researcher(request.user)
        labels = Label.objects.select_related("item", "annotator").order_by("pk")
        if not researcher:
            labels = labels.filter(annotator=request.user)
        campaign_id = request.query_params.get("campaign")
        if campaign_id is not None:
            campaign_pk = db_int(campaign_id, "campaign")
            try:
                campaign_for_viewer(request.user, campaign_pk)
            except Http404:
                return Response({"error": "not_found", "detail": "No such campaign."}, status=404)
            labels = labels.filter(campaign_id=campaign_pk)
        paginator = LabelPagination()
        page = paginator.paginate_queryset(labels, request, view=self)
        serializer = ResearcherLabelSerializer if researcher else LabelSerializer
        return paginator.get_paginated_response(serializer(page, many=True).data)
