"""Tasks of the site itself: a probe that proves the whole pipeline (broker -> worker -> database) works.

Celery's autodiscovery looks for `tasks` modules in installed apps; this module is imported explicitly
by the Celery app (config/celery_app.py), since the project package is not an app.
"""

from __future__ import annotations

import logging
import os
import socket

from celery import shared_task
from celery.signals import worker_process_init

logger = logging.getLogger(__name__)


@shared_task(name="config.tasks.record_probe")
def record_probe(token: str) -> int:
    """Write a WorkerProbe row and return its id. Sent by `manage.py probe_worker` and the tests."""
    from core.models import WorkerProbe

    from .devices import pick_device

    probe = WorkerProbe.objects.create(
        token=token, hostname=socket.gethostname(), pid=os.getpid(), device=pick_device()
    )
    return probe.pk


@shared_task(name="config.tasks.gpu_probe")
def gpu_probe() -> dict:
    """Report the device a gpu-queue worker would train on (run it to check a new GPU machine)."""
    from .devices import describe_device, pick_device

    return describe_device(pick_device())


@worker_process_init.connect
def _check_device(**_: object) -> None:
    """In each worker child (never the parent), check the device once, so a broken CUDA shows at start."""
    from django.conf import settings

    if not settings.WORKER_DEVICE_CHECK:
        return
    from .devices import describe_device, pick_device

    try:
        logger.info("worker child %s will use %s", os.getpid(), describe_device(pick_device()))
    except Exception:  # log and go on: a task that needs the device fails with its own message
        logger.exception("worker device check failed")
