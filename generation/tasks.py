"""Celery tasks: thin wrappers around generation.services. Training and jobs go to the "gpu" queue, pool builds and
the sweep to "default" (routes in the settings).

Acknowledged late and rejected when the worker is lost (settings), so a killed worker gives its task
back; the services make a second delivery harmless. The services send these tasks by name and never import this
module.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def train_model_task(trained_model_id: int) -> None:
    services.train_model(trained_model_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_job_task(job_id: int) -> None:
    services.run_job(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_pool_task(pool_build_id: int) -> None:
    services.run_pool_build(pool_build_id)


@shared_task
def fail_stale_work_task() -> int:
    """Periodic (beat): fail running rows whose worker vanished, so nothing stays "running" forever, and remove the
    staging folders of pool builds that will not finish."""
    return services.fail_stale_work()
