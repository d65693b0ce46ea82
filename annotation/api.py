"""The annotation API (DRF): next image, submit a label, undo, progress, my labels.

Answers name images by their opaque public id and an image URL, and never carry a scheme, a job, a sample or
a file name. Session and token authentication (settings.REST_FRAMEWORK).
"""

from __future__ import annotations

import base64
from typing import Any

from django.http import Http404
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.roles import is_annotator, is_researcher
from generation.models import PoolItem

from . import panel, services
from .access import campaign_for_annotator, campaign_for_viewer
from .images import BadImage, stored_png
from .models import Campaign, Label


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
    """Read-only. Fields declared by hand rather than a ModelSerializer: it answers every label, and the
    ModelSerializer's per-instance model introspection cost more than the rest of the answer."""

    id = serializers.IntegerField()
    campaign = serializers.IntegerField(source="campaign_id")
    item = serializers.CharField(source="item.public_id")
    value = serializers.CharField()
    time_spent_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class ResearcherLabelSerializer(LabelSerializer):
    annotator = serializers.CharField(source="annotator.get_username")


class CampaignList(APIView):
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
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        quota = panel.session_quota(request, campaign.pk)
        if quota is not None:
            # A participant from a panel stops at their quota.
            progress = services.progress(campaign, request.user)
            if progress.done >= quota:
                return Response({"item": None, "done": True, "progress": panel.capped(progress, quota).as_dict()})
        try:
            item = services.next_item(campaign, request.user)
        except services.AnnotationError as exc:
            return error(exc)
        progress = panel.capped(services.progress(campaign, request.user), quota).as_dict()
        return Response({"item": item_payload(item), "done": item is None, "progress": progress})


class SubmitLabel(CampaignAction):
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        body: Any = request.data
        if not isinstance(body, dict) or not isinstance(body.get("item"), str):
            return Response(
                {"error": "malformed", "detail": 'Send a JSON object: {"item": "<image id>", "value": "<label>"}.'},
                status=status.HTTP_400_BAD_REQUEST,
            )
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
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        try:
            item = services.undo_last(campaign, request.user)
        except services.AnnotationError as exc:
            return error(exc)
        progress = panel.capped(services.progress(campaign, request.user), panel.session_quota(request, pk)).as_dict()
        return Response({"item": item_payload(item), "progress": progress})


class Progress(CampaignAction):
    def get(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        progress = panel.capped(services.progress(campaign, request.user), panel.session_quota(request, pk))
        return Response({"progress": progress.as_dict(), "is_open": campaign.is_open})


class Primed(CampaignAction):
    def post(self, request: Request, pk: int) -> Response:
        campaign = self.campaign(pk)
        if not campaign.is_open:
            return error(services.CampaignClosed("This campaign is closed."))
        services.mark_primed(campaign, request.user)
        return Response({"primed": True})


class LabelList(APIView):
    """Annotators get their own labels only; researchers everybody's."""

    def get(self, request: Request) -> Response:
        researcher = is_researcher(request.user)
        labels = Label.objects.select_related("item", "annotator").order_by("pk")
        if not researcher:
            labels = labels.filter(annotator=request.user)
        campaign_id = request.query_params.get("campaign")
        if campaign_id is not None:
            if not campaign_id.isdigit():
                return Response({"error": "malformed", "detail": "campaign must be a number."}, status=400)
            try:
                campaign_for_viewer(request.user, int(campaign_id))
            except Http404:
                return Response({"error": "not_found", "detail": "No such campaign."}, status=404)
            labels = labels.filter(campaign_id=int(campaign_id))
        paginator = LimitOffsetPagination()
        paginator.default_limit = 1000
        page = paginator.paginate_queryset(labels, request, view=self)
        serializer = ResearcherLabelSerializer if researcher else LabelSerializer
        return paginator.get_paginated_response(serializer(page, many=True).data)
