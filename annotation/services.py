"""Assignment of images to annotators, labels and undo: the service layer under the pages and the API.

Rules (the issue's, in the order they are applied when picking the next image):
- an annotator never sees an image twice, and holds at most one image (a Claim) per campaign at a time;
- an image never gets more than `annotators_per_image` labels: labels + live claims <= capacity, counted on
  the CampaignItem row, which is locked while it changes;
- the least-filled images come first (labels and live claims), and among those each annotator has their own
  random order: (a random number stored per image) times (a secret per-annotator key) modulo a prime, which
  interleaves the schemes since neither number knows them. So every annotator's order is their own even while
  many label at once (with "fullest first" everyone converged on the same few images: one shared order, whose
  order effects then fall on the same images for everyone). The price: images fill level by level, so the first
  image is complete only near the end (docs/reference/annotation.md, "Assignment order");
- a claim older than the campaign's timeout is released, so an abandoned browser tab does not hold a slot.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from generation.models import PoolItem, Sample

from .models import SHUFFLE_MODULUS, Campaign, CampaignItem, Claim, Label, LabelValue, Priming

UNDO_SECONDS: int = getattr(settings, "ANNOTATION_UNDO_SECONDS", 30)
MAX_TIME_SPENT_MS = 24 * 3600 * 1000
ASSIGN_ATTEMPTS = 20


class AnnotationError(Exception):
    """A request the rules refuse; `status` is the HTTP status the API answers with."""

    status = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CampaignClosed(AnnotationError):
    status = 409
    code = "campaign_closed"


class PrimingRequired(AnnotationError):
    status = 409
    code = "priming_required"


class NotAssigned(AnnotationError):
    status = 409
    code = "not_assigned"


class AlreadyLabelled(AnnotationError):
    status = 409
    code = "already_labelled"


class NothingToUndo(AnnotationError):
    status = 409
    code = "nothing_to_undo"


class Busy(AnnotationError):
    status = 503
    code = "busy"


class InvalidLabel(AnnotationError):
    status = 400
    code = "invalid_label"


class MalformedValue(AnnotationError):
    status = 400
    code = "malformed"


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return {"done": self.done, "total": self.total}


def ensure_slots(campaign: Campaign) -> int:
    """Create the CampaignItem rows for every item of the campaign's pool (idempotent); returns how many exist."""
    items = PoolItem.objects.filter(pool_id=campaign.pool_id).values_list("pk", flat=True)
    CampaignItem.objects.bulk_create(
        [CampaignItem(campaign=campaign, item_id=pk, capacity=campaign.annotators_per_image) for pk in items],
        ignore_conflicts=True,
    )
    # A changed annotators_per_image applies wherever it still fits what the image already has.
    CampaignItem.objects.filter(
        campaign=campaign, labels_count__lte=campaign.annotators_per_image - F("claims_count")
    ).exclude(capacity=campaign.annotators_per_image).update(capacity=campaign.annotators_per_image)
    return CampaignItem.objects.filter(campaign=campaign).count()


def _order_key(campaign: Campaign, annotator: AbstractBaseUser) -> int:
    """The annotator's multiplier for CampaignItem.shuffle: stable for one annotator and campaign (a reload keeps
    the order), unknowable to the annotator, never 0 (which would put every image level)."""
    raw = f"{settings.SECRET_KEY}:{campaign.pk}:{annotator.pk}".encode()
    return 1 + int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") % (SHUFFLE_MODULUS - 1)


_last_sweep: dict[int, float] = {}
SWEEP_EVERY_SECONDS = 5.0


def release_expired_claims_now_and_then(campaign: Campaign) -> int:
    """The sweep, at most every few seconds per campaign and process: claims expire in minutes, and sweeping
    on every request would cost a query per image."""
    now = time.monotonic()
    if now - _last_sweep.get(campaign.pk, -SWEEP_EVERY_SECONDS) < SWEEP_EVERY_SECONDS:
        return 0
    _last_sweep[campaign.pk] = now
    return release_expired_claims(campaign)


def release_expired_claims(campaign: Campaign) -> int:
    """Give back the slots of claims older than the campaign's timeout; returns how many were released."""
    cutoff = timezone.now() - timedelta(seconds=campaign.claim_timeout_seconds)
    released = 0
    stale = list(Claim.objects.filter(campaign=campaign, claimed_at__lt=cutoff).values_list("pk", "slot_id")[:500])
    for claim_pk, slot_pk in stale:
        with transaction.atomic():
            # Lock the slot first (the same order as everywhere else), skip it if someone is working on it.
            slot = CampaignItem.objects.select_for_update(skip_locked=True).filter(pk=slot_pk).first()
            if slot is None:
                continue
            deleted, _ = Claim.objects.filter(pk=claim_pk, claimed_at__lt=cutoff).delete()
            if deleted:
                CampaignItem.objects.filter(pk=slot_pk).update(claims_count=F("claims_count") - 1)
                released += 1
    return released


def mark_primed(campaign: Campaign, annotator: AbstractBaseUser) -> None:
    # One INSERT ... ON CONFLICT DO NOTHING, outside a transaction: a second visit (or a second tab) keeps the
    # first time. (bulk_create would wrap the one row in a transaction of its own.)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {_T['priming']} (campaign_id, annotator_id, seen_at) VALUES (%s, %s, %s) "
                       "ON CONFLICT DO NOTHING", [campaign.pk, annotator.pk, _db_time(timezone.now())])


def current_claim(campaign: Campaign, annotator: AbstractBaseUser) -> Claim | None:
    cutoff = timezone.now() - timedelta(seconds=campaign.claim_timeout_seconds)
    return (
        Claim.objects.select_related("slot__item")
        .filter(campaign=campaign, annotator=annotator, claimed_at__gte=cutoff)
        .first()
    )


# The hot path (next image, label) in hand-written SQL: it runs once or twice per label, and building the same
# statements through the ORM cost more CPU than PostgreSQL spent answering them. Plain SQL that PostgreSQL and
# SQLite both speak; row locks are added where the database has them (_lock).
_T = {
    "slot": CampaignItem._meta.db_table,
    "claim": Claim._meta.db_table,
    "label": Label._meta.db_table,
    "item": PoolItem._meta.db_table,
    "priming": Priming._meta.db_table,
    "sample": Sample._meta.db_table,
}
# NOT IN rather than NOT EXISTS: PostgreSQL answers it with one hash of the annotator's labels whatever its
# statistics say, where NOT EXISTS on a freshly filled table can turn into a loop over labels for every image.
_OPEN_TO_ME = """s.campaign_id = %(c)s AND s.labels_count < s.capacity - s.claims_count
    AND s.item_id NOT IN (SELECT l.item_id FROM {label} l WHERE l.campaign_id = %(c)s AND l.annotator_id = %(a)s)"""
_ORDER = "s.labels_count + s.claims_count, (CAST(s.shuffle AS BIGINT) * %(k)s) %% %(m)s"
PICK_CANDIDATES = 32  # how many unlocked candidates one attempt considers; more than the annotators at once
_ITEM_FIELDS = ["id", "public_id", "sample_id", "attention_image"]  # in the model's order (from_db needs it)
# A pool item p with its sample smp (LEFT JOINed): what item_from_columns needs.
ITEM_COLUMNS = ", ".join([*(f"p.{f}" for f in _ITEM_FIELDS), "smp.image"])
SQL = {name: sql.replace("{open_to_me}", _OPEN_TO_ME).format(**_T, order=_ORDER, item_columns=ITEM_COLUMNS)
       for name, sql in {
    # Primed?, and the annotator's claim, live or not: (primed, still live?, *item columns); one row always.
    "start": """SELECT m.primed, c.claimed_at >= %(cutoff)s, {item_columns}
        FROM (SELECT COUNT(*) AS primed FROM {priming} WHERE campaign_id = %(c)s AND annotator_id = %(a)s) m
        LEFT JOIN {claim} c ON c.campaign_id = %(c)s AND c.annotator_id = %(a)s
        LEFT JOIN {slot} s ON s.id = c.slot_id LEFT JOIN {item} p ON p.id = s.item_id
        LEFT JOIN {sample} smp ON smp.id = p.sample_id""",
    # Least-filled images first; among equals the annotator's own order. In two steps: the best few candidates
    # without locks (a top-N sort, cheap on a large pool), then the first of them nobody has locked, re-checked
    # for room on its newest version (a row lock above a sort would make PostgreSQL sort the whole pool). The
    # pool item is looked up only for the row that wins ("handed").
    "pick": """SELECT s.id, s.item_id FROM {slot} s
        WHERE s.id IN (SELECT s.id FROM {slot} s WHERE {open_to_me} ORDER BY {order} LIMIT %(few)s)
        AND s.labels_count < s.capacity - s.claims_count
        ORDER BY {order} LIMIT 1""",
    "any_open": "SELECT 1 FROM {slot} s WHERE {open_to_me} LIMIT 1",
    "claim": """INSERT INTO {claim} (campaign_id, slot_id, annotator_id, claimed_at) VALUES (%s, %s, %s, %s)
        ON CONFLICT DO NOTHING RETURNING id""",
    "take": "UPDATE {slot} SET claims_count = claims_count + 1 WHERE id = %s",
    # What the answer needs of the image handed out: its opaque id and its file.
    "handed": "SELECT {item_columns} FROM {item} p LEFT JOIN {sample} smp ON smp.id = p.sample_id WHERE p.id = %s",
    # The claim on the image being labelled, with its slot: (claim, slot, item, claimed_at)
    "held": """SELECT c.id, c.slot_id, s.item_id, c.claimed_at
        FROM {claim} c JOIN {slot} s ON s.id = c.slot_id JOIN {item} p ON p.id = s.item_id
        WHERE c.campaign_id = %s AND c.annotator_id = %s AND p.public_id = %s""",
    "labelled": """SELECT 1 FROM {label} l JOIN {item} p ON p.id = l.item_id
        WHERE l.campaign_id = %s AND l.annotator_id = %s AND p.public_id = %s""",
    "unclaim": "DELETE FROM {claim} WHERE id = %s",
    # The label with the server's interval (hand-out to arrival) and its place in the annotator's sequence.
    "label": """INSERT INTO {label} (campaign_id, item_id, annotator_id, value, time_spent_ms, handed_at,
        server_time_ms, position, created_at)
        VALUES (%(c)s, %(i)s, %(a)s, %(v)s, %(ms)s, %(handed)s, %(server)s,
        (SELECT COUNT(*) + 1 FROM {label} WHERE campaign_id = %(c)s AND annotator_id = %(a)s), %(now)s)
        RETURNING id, position""",
    "labelled_slot": """UPDATE {slot} SET labels_count = labels_count + 1, claims_count = claims_count - 1
        WHERE id = %s""",
}.items()}


def _lock(of: str, *, skip_locked: bool = False) -> str:
    """FOR UPDATE [OF alias] [SKIP LOCKED] where the database has row locks (SQLite has none and needs none:
    it runs one writing transaction at a time)."""
    features = connection.features
    if not features.has_select_for_update:
        return ""
    clause = " FOR UPDATE"
    if features.has_select_for_update_of:
        clause += f" OF {of}"
    if skip_locked and features.has_select_for_update_skip_locked:
        clause += " SKIP LOCKED"
    return clause


def _db_time(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _aware(value: datetime | str) -> datetime:
    """A timestamp read by plain SQL: aware already (PostgreSQL) or naive UTC, maybe as text (SQLite)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _item(pk: int, public_id: str) -> PoolItem:
    """The pool item with the two fields the hot path knows; any other field loads on first use."""
    return PoolItem.from_db(connection.alias, ["id", "public_id"], [pk, public_id])


def item_from_columns(columns: tuple) -> PoolItem:
    """The pool item from ITEM_COLUMNS, with its sample's image file: enough for item.image_file."""
    item = PoolItem.from_db(connection.alias, _ITEM_FIELDS, columns[: len(_ITEM_FIELDS)])
    if item.sample_id is not None:
        item.sample = Sample.from_db(connection.alias, ["id", "image"], [item.sample_id, columns[-1]])
    return item


def next_item(campaign: Campaign, annotator: AbstractBaseUser, *, holds_nothing: bool = False) -> PoolItem | None:
    """The image this annotator should label now (their live claim, or a newly claimed one); None when done.

    holds_nothing: the caller knows the annotator is primed and holds no claim (it just labelled), which saves a query.
    """
    params = {"c": campaign.pk, "a": annotator.pk}
    if not holds_nothing:
        if not campaign.is_open:
            raise CampaignClosed("This campaign is closed.")
        cutoff = timezone.now() - timedelta(seconds=campaign.claim_timeout_seconds)
        with connection.cursor() as cursor:
            cursor.execute(SQL["start"], {**params, "cutoff": _db_time(cutoff)})
            primed, live, *item = cursor.fetchone()
        if not primed:
            raise PrimingRequired("Study the priming images first.")
        if item[0] is not None:
            if live:
                return item_from_columns(item)
            # This annotator's own expired claim that nobody released yet: drop it before taking a new one.
            _drop_own_claim(campaign, annotator)
    release_expired_claims_now_and_then(campaign)

    params.update(k=_order_key(campaign, annotator), m=SHUFFLE_MODULUS, few=PICK_CANDIDATES)
    pick = SQL["pick"] + _lock("s", skip_locked=True)
    for attempt in range(ASSIGN_ATTEMPTS):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(pick, params)
            row = cursor.fetchone()
            if row is not None:
                slot_pk, item_pk = row
                cursor.execute(SQL["claim"], [campaign.pk, slot_pk, annotator.pk, _db_time(timezone.now())])
                if cursor.fetchone() is None:
                    break  # a parallel request of the same annotator claimed first: use theirs
                cursor.execute(SQL["take"], [slot_pk])
                cursor.execute(SQL["handed"], [item_pk])
                return item_from_columns(cursor.fetchone())
            # Everything left is either full, labelled by me, or locked by someone this instant.
            cursor.execute(SQL["any_open"], params)
            someone_holds_a_lock = cursor.fetchone() is not None
        if someone_holds_a_lock:
            time.sleep(0.005 * (attempt + 1))
            continue
        # Before saying "done": the campaign may be new (no slots yet), or abandoned claims may hold the last
        # free slots.
        if attempt == 0 and (_missing_slots(campaign) or release_expired_claims(campaign)):
            continue
        return None
    claim = current_claim(campaign, annotator)
    if claim is None:
        raise Busy("Every open image is being handed out right now; try again in a moment.")
    return claim.slot.item


def _missing_slots(campaign: Campaign) -> bool:
    """Create the slots if the pool has items without one; True when some were missing."""
    have = CampaignItem.objects.filter(campaign=campaign).count()
    return ensure_slots(campaign) > have


def _drop_own_claim(campaign: Campaign, annotator: AbstractBaseUser) -> None:
    with transaction.atomic():
        claim = Claim.objects.filter(campaign=campaign, annotator=annotator).first()
        if claim is None:
            return
        CampaignItem.objects.select_for_update().filter(pk=claim.slot_id).first()
        if Claim.objects.filter(pk=claim.pk).delete()[0]:
            CampaignItem.objects.filter(pk=claim.slot_id).update(claims_count=F("claims_count") - 1)


def parse_value(value: object) -> str:
    if not isinstance(value, str) or value not in LabelValue.values:
        raise InvalidLabel(f"Unknown label {value!r}; expected one of: {', '.join(LabelValue.values)}.")
    return value


def parse_time_spent(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MalformedValue("time_spent_ms must be a non-negative number of milliseconds.")
    return min(int(value), MAX_TIME_SPENT_MS)


def submit_label(
    campaign: Campaign, annotator: AbstractBaseUser, item_public_id: str, value: object, time_spent_ms: object = None
) -> Label:
    """Store the annotator's label for the image they hold. Refuses anything else, stores nothing twice."""
    value = parse_value(value)
    spent = parse_time_spent(time_spent_ms)
    if not campaign.is_open:
        raise CampaignClosed("This campaign is closed.")
    ids = [campaign.pk, annotator.pk, item_public_id]
    with transaction.atomic(), connection.cursor() as cursor:
        # Lock the slot first (the order used everywhere), then make sure the claim survived: a release may
        # have deleted it before the lock was ours.
        cursor.execute(SQL["held"] + _lock("s"), ids)
        held = cursor.fetchone()
        if held is None:
            cursor.execute(SQL["labelled"], ids)
            if cursor.fetchone() is not None:
                raise AlreadyLabelled("You have already labelled this image.")
            raise NotAssigned("This image is not assigned to you; ask for the next image.")
        claim_pk, slot_pk, item_pk, claimed_at = held
        cursor.execute(SQL["unclaim"], [claim_pk])
        if cursor.rowcount != 1:
            raise NotAssigned("Your time on this image ran out; ask for the next image.")
        now = timezone.now()
        handed = _aware(claimed_at)
        server = server_interval_ms(handed, now)
        if spent is None:
            spent = server
        cursor.execute(SQL["label"], {"c": campaign.pk, "i": item_pk, "a": annotator.pk, "v": value, "ms": spent,
                                      "handed": _db_time(handed), "server": server, "now": _db_time(now)})
        label_pk, position = cursor.fetchone()
        cursor.execute(SQL["labelled_slot"], [slot_pk])
    return Label(
        pk=label_pk, campaign=campaign, item=_item(item_pk, item_public_id), annotator=annotator, value=value,
        time_spent_ms=spent, handed_at=handed, server_time_ms=server, position=position, created_at=now,
    )


def server_interval_ms(handed: datetime, arrived: datetime) -> int:
    """The server's time on one label: from handing the image out to the label's arrival, in whole ms.

    One claim per annotator at a time, so these intervals never overlap: summed, they never exceed the wall-clock
    span of the annotator's work, whatever the browser says (a second tab shares the claim; an undo hands the image
    out again when it is undone; a claim that expired over a break is handed out anew)."""
    return max(0, min(int((arrived - handed).total_seconds() * 1000), MAX_TIME_SPENT_MS))


def undo_last(campaign: Campaign, annotator: AbstractBaseUser) -> PoolItem:
    """Delete the annotator's latest label if it is recent, and hand its image back to them."""
    if not campaign.is_open:
        raise CampaignClosed("This campaign is closed.")
    cutoff = timezone.now() - timedelta(seconds=UNDO_SECONDS)
    with transaction.atomic():
        label = (
            Label.objects.filter(campaign=campaign, annotator=annotator, created_at__gte=cutoff)
            .order_by("-created_at", "-pk")
            .first()
        )
        if label is None:
            raise NothingToUndo(f"There is no label from the last {UNDO_SECONDS} seconds to undo.")
        own = Claim.objects.filter(campaign=campaign, annotator=annotator).first()
        slots = {label.item_id}
        if own is not None:
            slots.add(own.slot.item_id)
        # Lock both slots in one stable order, so two undos never wait on each other in a cycle.
        list(CampaignItem.objects.select_for_update().filter(campaign=campaign, item_id__in=slots).order_by("pk"))
        if own is not None and Claim.objects.filter(pk=own.pk).delete()[0]:
            CampaignItem.objects.filter(pk=own.slot_id).update(claims_count=F("claims_count") - 1)
        if not Label.objects.filter(pk=label.pk).delete()[0]:
            raise NothingToUndo("That label is already gone.")
        slot = CampaignItem.objects.get(campaign=campaign, item_id=label.item_id)
        Claim.objects.create(campaign=campaign, slot=slot, annotator=annotator, claimed_at=timezone.now())
        CampaignItem.objects.filter(pk=slot.pk).update(
            labels_count=F("labels_count") - 1, claims_count=F("claims_count") + 1
        )
    return label.item


def progress(campaign: Campaign, annotator: AbstractBaseUser) -> Progress:
    """done: the annotator's labels; total: done plus the images still open to them (it shrinks as others finish)."""
    # One statement for both counts: it runs after every label.
    label, slot, claim = Label._meta.db_table, CampaignItem._meta.db_table, Claim._meta.db_table
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {label} WHERE campaign_id = %(c)s AND annotator_id = %(a)s), "
        f"(SELECT COUNT(*) FROM {slot} s WHERE s.campaign_id = %(c)s "
        f" AND (s.labels_count < s.capacity - s.claims_count "
        f"      OR s.id IN (SELECT slot_id FROM {claim} WHERE campaign_id = %(c)s AND annotator_id = %(a)s)) "
        f" AND s.item_id NOT IN (SELECT item_id FROM {label} WHERE campaign_id = %(c)s AND annotator_id = %(a)s))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"c": campaign.pk, "a": annotator.pk})
        done, open_to_me = cursor.fetchone()
    return Progress(done=done, total=done + open_to_me)


def campaigns_for(annotator: AbstractBaseUser):
    return Campaign.objects.filter(is_open=True, annotators=annotator)


@dataclass(frozen=True)
class CampaignRow:
    """One line of an annotator's campaign list."""

    campaign: Campaign
    progress: Progress  # for a closed campaign, done and total are both the annotator's labels there

    @property
    def state(self) -> str:
        if not self.campaign.is_open:
            return "closed"
        if self.progress.done == 0:
            return "new"
        return "finished" if self.progress.done >= self.progress.total else "started"


def campaign_rows(annotator: AbstractBaseUser) -> list[CampaignRow]:
    """The annotator's campaigns, open ones first, each with their progress; closed ones only where they labelled."""
    rows = [CampaignRow(c, progress(c, annotator)) for c in campaigns_for(annotator).order_by("name", "pk")]
    closed = (Campaign.objects.filter(is_open=False, annotators=annotator, labels__annotator=annotator)
              .annotate(mine=Count("labels")).order_by("name", "pk"))
    rows += [CampaignRow(c, Progress(c.mine, c.mine)) for c in closed]
    return rows


def shortcut_for(annotator: AbstractBaseUser) -> Campaign | None:
    """The campaign to open right away after logging in: the only open one, while it still has work for them."""
    campaigns = list(campaigns_for(annotator)[:2])
    if len(campaigns) != 1:
        return None
    p = progress(campaigns[0], annotator)
    return campaigns[0] if p.done < p.total or p.done == 0 else None
