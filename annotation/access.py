"""Who may see which campaign. Anything not yours is a 404: a stranger learns nothing, not even that it exists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.db import connection
from django.db.models.fields.files import FieldFile
from django.http import Http404
from django.shortcuts import get_object_or_404

from config.api_edge import DB_INT_MAX, is_public_id
from config.roles import ANNOTATORS, is_researcher
from generation.models import PoolItem, Sample

from .models import Campaign, Priming
from .services import ITEM_COLUMNS, item_from_columns

_FIELDS = Campaign._meta.concrete_fields
_MEMBER = Campaign.annotators.through._meta.db_table
_IN_GROUP = (
    f"EXISTS (SELECT 1 FROM {User.groups.through._meta.db_table} ug JOIN {Group._meta.db_table} g ON g.id = ug.group_id "
    f"WHERE ug.user_id = %(u)s AND g.name = %(g)s)"
)
# One statement for all three conditions (the campaign exists, names the user, and the user is in the annotators
# group), in plain SQL: it runs on every API call, and compiling it through the ORM cost more than running it.
_CAMPAIGN_FOR_ANNOTATOR = (
    f"SELECT {', '.join('c.' + f.column for f in _FIELDS)} FROM {Campaign._meta.db_table} c "
    f"WHERE c.id = %(c)s "
    f"AND EXISTS (SELECT 1 FROM {_MEMBER} m WHERE m.campaign_id = c.id AND m.user_id = %(u)s) AND {_IN_GROUP}"
)
# The same, and whether the user studied the campaign's priming images: the labeling and priming pages need both.
_CAMPAIGN_AND_PRIMING = _CAMPAIGN_FOR_ANNOTATOR.replace(
    " FROM ", f", EXISTS (SELECT 1 FROM {Priming._meta.db_table} pr WHERE pr.campaign_id = c.id "
    f"AND pr.annotator_id = %(u)s) AS primed FROM ", 1)
# An image's file, if an open campaign of this annotator shows it: loaded with every image of the labeling page.
_ITEM_IMAGE_FOR_ANNOTATOR = (
    f"SELECT {ITEM_COLUMNS} FROM {PoolItem._meta.db_table} p "
    f"LEFT JOIN {Sample._meta.db_table} smp ON smp.id = p.sample_id WHERE p.public_id = %(i)s "
    f"AND EXISTS (SELECT 1 FROM {Campaign._meta.db_table} c JOIN {_MEMBER} m ON m.campaign_id = c.id "
    f"WHERE c.pool_id = p.pool_id AND c.is_open AND m.user_id = %(u)s) AND {_IN_GROUP}"
)


def campaign_for_annotator(user: AbstractBaseUser, pk: int, *, with_priming: bool = False) -> Campaign:
    """A campaign the user takes part in as an annotator (open or closed). with_priming: it carries `primed`,
    whether the user studied its priming images, read in the same statement."""
    if not user.is_authenticated or not user.is_active or pk > DB_INT_MAX:
        raise Http404
    sql = _CAMPAIGN_AND_PRIMING if with_priming else _CAMPAIGN_FOR_ANNOTATOR
    found = list(Campaign.objects.raw(sql, {"c": pk, "u": user.pk, "g": ANNOTATORS}))
    if not found:
        raise Http404
    return found[0]


def campaign_for_viewer(user: AbstractBaseUser, pk: int) -> Campaign:
    """Researchers see every campaign; annotators their own."""
    if pk > DB_INT_MAX:  # past bigint: names nothing, and the database could not compare it
        raise Http404
    if is_researcher(user):
        return get_object_or_404(Campaign.objects.select_related("pool"), pk=pk)
    return campaign_for_annotator(user, pk)


def item_image(user: AbstractBaseUser, public_id: str) -> FieldFile | None:
    """The image file of a pool item, for researchers (any item) and for annotators of an open campaign that
    shows it; None for anyone else, for an unknown item and for an item without a file."""
    if not user.is_authenticated or not user.is_active or not is_public_id(public_id):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_ITEM_IMAGE_FOR_ANNOTATOR, {"i": public_id, "u": user.pk, "g": ANNOTATORS})
        row = cursor.fetchone()
    if row is not None:
        item = item_from_columns(row)
    elif is_researcher(user):
        item = PoolItem.objects.select_related("sample").filter(public_id=public_id).first()
    else:
        return None
    if item is None or not item.image_file:
        return None
    return item.image_file
