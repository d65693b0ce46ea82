"""Waits bounded by progress, not by a wall-clock guess.

On a busy 2-core machine a job can take several times longer than on a quiet one, so a fixed deadline either
fails slow-but-healthy runs or has to be so long that a stuck one wastes the whole budget. `until` fails only when
nothing has moved for `stall` seconds: for a work row, its status, progress and heartbeat; for a starting worker,
its log growing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(check: Callable[[], T], *, progress: Callable[[], object], what: str, stall: float = 180.0,
          poll: float = 0.2) -> T:
    """check()'s first true value; AssertionError once progress() has returned the same state for `stall` s."""
    last: object = object()
    moved = time.monotonic()
    while True:
        got = check()
        if got:
            return got
        state = progress()
        now = time.monotonic()
        if state != last:
            last, moved = state, now
        elif now - moved > stall:
            raise AssertionError(f"{what}: nothing moved for {stall:.0f} s (last seen: {state!r})")
        time.sleep(poll)


def row_state(row) -> tuple:
    """What changes while a work row (training, job, pool build) makes progress."""
    return row.status, row.progress, getattr(row, "heartbeat_at", None), getattr(row, "started_at", None)


def wait_for_row(row, done: Callable[[object], bool], stall: float = 180.0):
    """The row (refreshed) once done(row); fails when its status, progress and heartbeat stop moving."""

    def check():
        row.refresh_from_db()
        return row if done(row) else None

    return until(check, progress=lambda: row_state(row), stall=stall,
                 what=f"{row} still {row.status} ({row.progress:.2f}) {row.error}")
