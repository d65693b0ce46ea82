"""Rows that workers move along (trained models, jobs, pool builds): claim, heartbeat, fail, queue, cancel.

Tasks are sent by name (`generation.tasks.<name>`), so nothing here imports the task module: the import runs one
way, tasks -> services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from ..errors import JobError, Stopped
from ..models import GenerationJob, JobStatus, PoolBuild, TrainedModel, new_public_id
from .common import POLL_SECONDS, pick_device

log = logging.getLogger(__name__)

WorkRow = TrainedModel | GenerationJob | PoolBuild
WORK_MODELS: tuple[type[WorkRow], ...] = (TrainedModel, GenerationJob, PoolBuild)
TASK_MODULE = "generation.tasks"


def claim(model: type[WorkRow], pk: int) -> Any:
    """The row, now "running" for this worker; None when there is nothing to do (finished, cancelled,
    or running under a live worker: a duplicate delivery)."""
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            log.warning("%s %s is gone; nothing to do", model.__name__, pk)
            return None
        if not (row.status == JobStatus.QUEUED or row.is_stale):
            log.info("%s %s is %s; this delivery does nothing", model.__name__, pk, row.status)
            return None
        now = timezone.now()
        row.status, row.progress, row.error = JobStatus.RUNNING, 0.0, ""
        row.started_at, row.heartbeat_at, row.finished_at = now, now, None
        row.device = pick_device()
        row.save(update_fields=["status", "progress", "error", "started_at", "heartbeat_at", "finished_at", "device"])
        return row


def beat(row: WorkRow, progress: float | None = None) -> None:
    """Heartbeat (and progress); raises Stopped when the row is no longer running."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = min(max(progress, 0.0), 1.0)
    if not type(row).objects.filter(pk=row.pk, status=JobStatus.RUNNING).update(**fields):
        raise Stopped


def fail(row: WorkRow, message: str) -> None:
    log.error("%s %s failed: %s", type(row).__name__, row.pk, message)
    type(row).objects.filter(pk=row.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message, finished_at=timezone.now()
    )


def fail_stale_rows() -> int:
    """Fail running rows whose worker stopped writing heartbeats; returns how many."""
    failed = 0
    for model in WORK_MODELS:
        for row in model.objects.filter(status=JobStatus.RUNNING):
            if row.is_stale:
                seconds = int((timezone.now() - (row.heartbeat_at or row.started_at or row.created_at)).total_seconds())
                failed += model.objects.filter(pk=row.pk, status=JobStatus.RUNNING, heartbeat_at=row.heartbeat_at).update(
                    status=JobStatus.FAILED,
                    finished_at=timezone.now(),
                    error=f"The worker stopped answering (no heartbeat for {seconds} s): it was probably killed "
                    f"or lost its machine. {model.again_hint}",
                )
    return failed


def send(task_name: str, row: WorkRow) -> None:
    """Queue the task `generation.tasks.<task_name>` for the row, by name (the route picks the queue), once the
    current transaction commits: a worker must find the row as we left it."""
    from celery import current_app

    task_id = new_public_id()
    type(row).objects.filter(pk=row.pk).update(task_id=task_id)
    row.task_id = task_id
    task = current_app.signature(f"{TASK_MODULE}.{task_name}", args=[row.pk])
    transaction.on_commit(lambda: task.apply_async(task_id=task_id))


def requeue(row: WorkRow) -> None:
    if row.status == JobStatus.RUNNING and not row.is_stale:
        raise JobError(f"{row} is running; cancel it first.")
    fields = {"status": JobStatus.QUEUED, "progress": 0.0, "error": "", "started_at": None, "finished_at": None,
              "heartbeat_at": None}
    type(row).objects.filter(pk=row.pk).update(**fields)
    for k, v in fields.items():
        setattr(row, k, v)


def cancel(row: WorkRow) -> bool:
    """Cancel a queued or running row; its worker notices at the next batch. False when it had ended."""
    done = type(row).objects.filter(pk=row.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    row.refresh_from_db()
    return bool(done)


def poller(row: WorkRow) -> Callable[[], bool]:
    """should_stop() for creative_core: a heartbeat every POLL_SECONDS, True once the row is not running."""
    last = [0.0]

    def should_stop() -> bool:
        if time.monotonic() - last[0] < POLL_SECONDS:
            return False
        last[0] = time.monotonic()
        try:
            beat(row)
        except Stopped:
            return True
        return False

    return should_stop


def progress_of(rows: Iterable[models.Model]) -> list[dict]:
    return [row.progress_dict() for row in rows]  # type: ignore[attr-defined]
