"""The votes of a report: the campaign's labels from the database, who is excluded, and the vote tables with the
consensus of each image (the first steps of `build_report`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from annotation.models import Campaign, Label, Participant
from generation.models import PoolItem

from .. import collection, stats
from ..models import ReportSettings
from .common import ATTENTION_EXPECTED, ATTENTION_SCHEME, INCONCLUSIVE, LABEL_INDEX, METRICS


@dataclass(frozen=True)
class Gathered:
    """The pool's items and their samples' metrics, and every label on them, as the database has them."""

    items: list[tuple[int, str, str | None]]  # (item id, public id, scheme; None for an attention check), pool order
    sample_metrics: dict[int, dict[str, float | None]]  # item id -> metric name -> value
    item_meta: dict[int, tuple[str, str]]  # item id -> (public id, scheme or ATTENTION_SCHEME)
    raw: list[tuple]  # (item id, annotator id, value, time shown in ms, created at), in the order they came


def gather(campaign: Campaign) -> Gathered:
    pool = campaign.pool
    pool_rows = (
        PoolItem.objects.filter(pool=pool)
        .order_by("position")
        .values_list("id", "public_id", "sample__scheme", *[f"sample__{name}" for name, _ in METRICS])
    )
    items = [(pk, public_id, scheme) for pk, public_id, scheme, *_ in pool_rows]
    # Attention checks have no sample: their metrics are None and they never enter the consensus.
    sample_metrics = {pk: dict(zip([name for name, _ in METRICS], values, strict=True))
                      for pk, _, _, *values in pool_rows}
    item_meta = {pk: (public_id, scheme or ATTENTION_SCHEME) for pk, public_id, scheme in items}
    raw = list(
        Label.objects.filter(campaign=campaign, item__pool=pool)
        .order_by("created_at", "id")
        .annotate(shown_ms=collection.shown_time())
        .values_list("item_id", "annotator_id", "value", "shown_ms", "created_at")
    )
    return Gathered(items, sample_metrics, item_meta, raw)


@dataclass(frozen=True)
class Exclusions:
    """Who is left out of the figures: by the attention-check rule, and panel participants excluded by hand."""

    seen: dict[int, int]  # attention checks answered, per annotator
    failed: dict[int, int]  # ... and failed
    rule_ids: set[int]  # excluded by the rule
    by_hand: list[Participant]  # participants excluded by hand, in the order they were
    manual_ids: set[int]  # excluded by hand and not by the rule
    excluded_ids: set[int]  # all of them


def exclusions(campaign: Campaign, gathered: Gathered, settings: ReportSettings) -> Exclusions:
    item_meta = gathered.item_meta
    # Attention checks decide the exclusions.
    seen: dict[int, int] = {}
    failed: dict[int, int] = {}
    for item_id, user_id, value, _, _ in gathered.raw:
        if item_meta[item_id][1] == ATTENTION_SCHEME:
            seen[user_id] = seen.get(user_id, 0) + 1
            failed[user_id] = failed.get(user_id, 0) + (value != ATTENTION_EXPECTED)
    excluded_ids = {
        uid
        for uid, n in seen.items()
        if n >= settings.min_attention_checks and failed[uid] / n > settings.max_attention_fail_rate
    }
    rule_ids = set(excluded_ids)
    # Panel participants the researcher excluded by hand (e.g. rejected on the panel).
    by_hand = list(Participant.objects.filter(campaign=campaign, excluded=True, user__isnull=False)
                   .select_related("excluded_by").order_by("excluded_at", "pk"))
    manual_ids = {p.user_id for p in by_hand} - rule_ids
    excluded_ids |= manual_ids
    return Exclusions(seen, failed, rule_ids, by_hand, manual_ids, excluded_ids)


@dataclass(frozen=True)
class Votes:
    """The labels that count as vote tables over the labelled generated images, and the consensus of each."""

    sample_items: list[tuple[int, str, str]]  # the pool's generated images (item id, public id, scheme)
    counted: list[tuple[int, int, str]]  # (item id, annotator id, value): kept annotators, generated images
    image_items: list[tuple[int, str, str]]  # the generated images with a counted label, in pool order
    index_of: dict[int, int]  # item id -> row of the tables
    user_ids: list[int]  # every annotator with a label, excluded ones included
    k_items: np.ndarray  # the votes of the table (an abstention left out when L4 is one): image row,
    k_users: np.ndarray  # ... annotator (index into user_ids)
    k_labels: np.ndarray  # ... and label index
    table: np.ndarray  # (images, 4) the votes the rule reads
    cast: np.ndarray  # (images, 4) the votes as cast (L4 included)
    result: stats.Consensus
    image_schemes: np.ndarray

    @property
    def n(self) -> int:
        return len(self.image_items)


def tally(gathered: Gathered, excluded: Exclusions, settings: ReportSettings) -> Votes:
    item_meta, raw, excluded_ids = gathered.item_meta, gathered.raw, excluded.excluded_ids
    # Generated images that received at least one kept label, in pool order.
    sample_items = [(pk, pid, scheme) for pk, pid, scheme in gathered.items if scheme]
    counted = [
        (item_id, user_id, value)
        for item_id, user_id, value, _, _ in raw
        if user_id not in excluded_ids and item_meta[item_id][1] != ATTENTION_SCHEME
    ]
    labelled = {item_id for item_id, _, _ in counted}
    # An abstention still makes the image "labelled" (it has no consensus rather than no votes).
    kept = [
        (item_id, user_id, LABEL_INDEX[value])
        for item_id, user_id, value in counted
        if not (settings.abstain_inconclusive and value == INCONCLUSIVE)
    ]
    image_items = [row for row in sample_items if row[0] in labelled]
    index_of = {pk: i for i, (pk, _, _) in enumerate(image_items)}
    user_ids = sorted({uid for _, uid, _, _, _ in raw})
    user_index = {uid: i for i, uid in enumerate(user_ids)}

    n = len(image_items)
    k_items = np.array([index_of[i] for i, _, _ in kept], dtype=np.int64)
    k_users = np.array([user_index[u] for _, u, _ in kept], dtype=np.int64)
    k_labels = np.array([lab for _, _, lab in kept], dtype=np.int64)
    table = stats.vote_table(k_items, k_labels, n)
    result = stats.consensus(table, settings.threshold, settings.tie_policy)
    # The votes as cast (L4 included). An abstention is a vote cast: an image is incomplete when it has fewer votes
    # cast than annotators per image, whatever the rule then does with its L4 votes.
    c_items = np.array([index_of[i] for i, _, _ in counted], dtype=np.int64)
    c_labels = np.array([LABEL_INDEX[v] for _, _, v in counted], dtype=np.int64)
    cast = stats.vote_table(c_items, c_labels, n)
    result = dataclasses.replace(result, votes=cast.sum(axis=1))
    image_schemes = np.array([scheme for _, _, scheme in image_items], dtype=object)
    return Votes(sample_items, counted, image_items, index_of, user_ids, k_items, k_users, k_labels, table, cast,
                 result, image_schemes)
