"""Who may see which campaign. Anything not yours is a 404: a stranger learns nothing, not even that it exists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import Exists
from django.http import Http404
from django.shortcuts import get_object_or_404

from config.roles import ANNOTATORS, is_researcher

from .models import Campaign


def campaign_for_annotator(user: AbstractBaseUser, pk: int) -> Campaign:
    """A campaign the user takes part in as an annotator (open or closed)."""
    if not user.is_authenticated or not user.is_active:
        raise Http404
    # One query for both conditions (the campaign names the user, and the user is in the annotators group):
    # this runs on every API call.
    in_group = User.groups.through.objects.filter(user_id=user.pk, group__name=ANNOTATORS)
    campaign = Campaign.objects.filter(Exists(in_group), pk=pk, annotators=user).first()
    if campaign is None:
        raise Http404
    return campaign


def campaign_for_viewer(user: AbstractBaseUser, pk: int) -> Campaign:
    """Researchers see every campaign; annotators their own."""
    if is_researcher(user):
        return get_object_or_404(Campaign.objects.select_related("pool"), pk=pk)
    return campaign_for_annotator(user, pk)
