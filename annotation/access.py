"""Who may see which campaign. Anything not yours is a 404: a stranger learns nothing, not even that it exists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.http import Http404
from django.shortcuts import get_object_or_404

from config.roles import ANNOTATORS, is_researcher

from .models import Campaign

_FIELDS = Campaign._meta.concrete_fields
# One statement for all three conditions (the campaign exists, names the user, and the user is in the annotators
# group), in plain SQL: it runs on every API call, and compiling it through the ORM cost more than running it.
_CAMPAIGN_FOR_ANNOTATOR = (
    f"SELECT {', '.join('c.' + f.column for f in _FIELDS)} FROM {Campaign._meta.db_table} c "
    f"WHERE c.id = %(c)s "
    f"AND EXISTS (SELECT 1 FROM {Campaign.annotators.through._meta.db_table} m WHERE m.campaign_id = c.id AND m.user_id = %(u)s) "
    f"AND EXISTS (SELECT 1 FROM {User.groups.through._meta.db_table} ug JOIN {Group._meta.db_table} g ON g.id = ug.group_id "
    f"WHERE ug.user_id = %(u)s AND g.name = %(g)s)"
)


def campaign_for_annotator(user: AbstractBaseUser, pk: int) -> Campaign:
    """A campaign the user takes part in as an annotator (open or closed)."""
    if not user.is_authenticated or not user.is_active:
        raise Http404
    found = list(Campaign.objects.raw(_CAMPAIGN_FOR_ANNOTATOR, {"c": pk, "u": user.pk, "g": ANNOTATORS}))
    if not found:
        raise Http404
    return found[0]


def campaign_for_viewer(user: AbstractBaseUser, pk: int) -> Campaign:
    """Researchers see every campaign; annotators their own."""
    if is_researcher(user):
        return get_object_or_404(Campaign.objects.select_related("pool"), pk=pk)
    return campaign_for_annotator(user, pk)
