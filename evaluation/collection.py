"""How the labels were collected, for the researcher who must trust them: the time each label took by the server's
clock, labels faster than a floor (speeders), the L1 rate by position in each annotator's sequence (order effects),
the attention checks' failures by kind, and how far the checks could be told from the pool by look."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Func
from django.db.models.functions import Coalesce

from annotation.models import Campaign, Label, LabelValue
from generation.models import AttentionKind

L1 = LabelValue.CREATIVE.value
POSITION_BANDS = 5


def shown_time():
    """The time researchers are shown for a label: the server's interval, or the browser's when that is smaller
    (a browser cannot stretch a label's time past what the server saw; it may report less, e.g. a hidden tab)."""
    # LEAST of two COALESCEs: both databases answer it, and a missing side falls back to the other one.
    return Func(Coalesce(F("server_time_ms"), F("time_spent_ms")), Coalesce(F("time_spent_ms"), F("server_time_ms")),
                function="MIN" if _sqlite() else "LEAST")


def _sqlite() -> bool:
    from django.db import connection

    return connection.vendor == "sqlite"


def speeder_floor_ms() -> int:
    return int(getattr(settings, "ANNOTATION_SPEEDER_FLOOR_MS", 1000))


def is_fast(ms: int | None, floor: int) -> bool:
    return ms is not None and ms < floor


def label_details(campaign: Campaign) -> dict[tuple[int, int], tuple[int | None, int | None, int | None]]:
    """(item, annotator) -> (the browser's ms, the server's ms, position) of every label of the campaign."""
    rows = Label.objects.filter(campaign=campaign).values_list(
        "item_id", "annotator_id", "time_spent_ms", "server_time_ms", "position")
    return {(item, user): (client, server, position) for item, user, client, server, position in rows}


@dataclass
class PositionBand:
    first: int
    last: int
    n: int  # labels on generated images at these positions
    n_l1: int

    @property
    def l1_rate(self) -> float | None:
        return self.n_l1 / self.n if self.n else None

    @property
    def name(self) -> str:
        return f"{self.first}–{self.last}" if self.last != self.first else str(self.first)


def position_bands(labels: list[tuple[int | None, str]], bands: int = POSITION_BANDS) -> list[PositionBand]:
    """The L1 rate by position band: (position, label) pairs of labels on generated images, in `bands` bands of
    equal width from position 1 to the largest (labels stored before positions were kept are left out)."""
    positions = [p for p, _ in labels if p is not None]
    if not positions:
        return []
    top = max(positions)
    width = max(1, math.ceil(top / bands))
    out = [PositionBand(first=1 + k * width, last=min(top, (k + 1) * width), n=0, n_l1=0)
           for k in range(math.ceil(top / width))]
    for position, value in labels:
        if position is None:
            continue
        band = out[(position - 1) // width]
        band.n += 1
        band.n_l1 += value == L1
    return out


@dataclass
class CheckKindRow:
    kind: str
    seen: int
    failed: int

    @property
    def name(self) -> str:
        return {"raw": "training images", "reconstruction": "reconstructions of held-out images"}.get(
            self.kind, "of unrecorded kind")

    @property
    def fail_rate(self) -> float | None:
        return self.failed / self.seen if self.seen else None


def failures_by_kind(campaign: Campaign, expected: str) -> list[CheckKindRow]:
    """Attention-check labels and failures per kind of check, of every annotator (excluded ones too)."""
    pool = campaign.pool
    fallback = pool.attention_kind if pool.attention_kind != AttentionKind.BOTH else ""
    rows: dict[str, CheckKindRow] = {}
    labels = Label.objects.filter(campaign=campaign, item__sample__isnull=True).values_list(
        "annotator_id", "item__check_kind", "value")
    for _, kind, value in labels:
        kind = kind or fallback
        row = rows.setdefault(kind, CheckKindRow(kind, 0, 0))
        row.seen += 1
        row.failed += value != expected
    return [rows[k] for k in sorted(rows)]


def check_quality_sentence(pool) -> str:
    """What the pool's stored check quality says, in one or two sentences ("" when it was never measured)."""
    q = pool.check_quality or {}
    if not q:
        return ""
    threshold = q.get("threshold", 0.9)
    if q.get("separability") is None:
        text = (f"Separability of the attention checks not measured: too few images "
                f"({q.get('n_checks', 0)} checks, {q.get('n_generated', 0)} generated).")
    else:
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in (q.get("by_kind") or {}).items() if v is not None)
        text = (f"Simple image statistics (mean, mid-grey share, maximum, sharpness, Laplacian variance) tell the "
                f"attention checks from the generated images at cross-validated AUC {q['separability']:.2f}"
                f"{f' ({kinds})' if len(q.get('by_kind') or {}) > 1 else ''}, over {q.get('n_checks')} checks and "
                f"{q.get('n_generated')} generated images (0.50: not at all; limit {threshold:.2f}).")
    if q.get("spread") is not None:
        text += f" Reconstructions vary {q['spread']:.2f} times as much as the images they reconstruct."
    if q.get("accepted") and (_over(q) or _collapsed(q)):
        text += (" The researcher built the pool although its checks can be spotted or its reconstructions "
                 "collapsed: failed checks may not mean inattention.")
    return text


def _over(q: dict) -> bool:
    return q.get("separability") is not None and q["separability"] > q.get("threshold", 0.9)


def _collapsed(q: dict) -> bool:
    return q.get("spread") is not None and q["spread"] < q.get("min_spread", 0.25)
