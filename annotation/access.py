"""Who may see which campaign. Anything not yours is a 404: a stranger learns nothing, not even that it exists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404
from django.shortcuts import get_object_or_404

from config.roles import is_annotator, is_researcher

from .models import Campaign


def campaign_for_annotator(user: AbstractBaseUser, pk: int) -> Campaign:
    """A campaign the user takes part in as an annotator (open or closed)."""
    if not is_annotator(user):
        raise Http404
    return get_object_or_404(Campaign.objects.select_related("pool"), pk=pk, annotators=user)


def campaign_for_viewer(user: AbstractBaseUser, pk: int) -> Campaign:
    """Researchers see every campaign; annotators their own."""
    if is_researcher(user):
        return get_object_or_404(Campaign.objects.select_related("pool"), pk=pk)
    return campaign_for_annotator(user, pk)
