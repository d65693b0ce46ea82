"""The whole path through Redis and a real Celery worker: train, generate, pool; cancel; a lost worker."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from generation import services
from generation.models import GenerationJob, JobStatus, Sample, TrainedModel
from tests.generation.conftest import SCHEMES, TRAIN_LIMIT, make_job
from tests.waiting import wait_for_row

pytestmark = pytest.mark.worker


def wait_for(row, until: Callable[[object], bool], stall: float = 180):
    """The row once until(row); fails only when it stops moving (status, progress, heartbeat) for `stall` s."""
    return wait_for_row(row, until, stall=stall)


def ended(row) -> bool:
    return row.status not in (JobStatus.QUEUED, JobStatus.RUNNING)


def test_it_trains_generates_and_pools_on_a_worker(start_worker, data_root):
    worker = start_worker(queues="gpu", name="gen")
    model = TrainedModel.objects.create(name="tiny", dataset="mnist", epochs=1, train_limit=TRAIN_LIMIT)
    services.launch_training(model)
    model = wait_for(model, ended)
    assert model.status == JobStatus.SUCCEEDED, model.error
    assert model.checkpoint and model.metrics["units"] > 0 and model.device
    job = make_job(model, n=50)
    services.launch_job(job)
    job = wait_for(job, ended)
    assert job.status == JobStatus.SUCCEEDED, job.error + worker.output()[-3000:]
    assert set(job.summary) == set(SCHEMES) and all(job.summary[s]["n"] == 50 for s in SCHEMES)
    assert job.timings["total"] > 0 and job.device
    pool = services.build_pool(job, per_scheme=10, attention_checks=2, accept_spottable_checks=True)
    assert pool.items.count() == 42
    assert Sample.objects.filter(job=job).count() == 40


def slow_job(model: TrainedModel) -> GenerationJob:
    """A few seconds of work in many small batches (GENERATION_BATCH_SIZE is set low for the worker)."""
    return make_job(model, n=800, optimise_steps=10)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setenv("GENERATION_BATCH_SIZE", "50")  # read by the worker processes started afterwards


def test_it_stops_a_cancelled_job_between_batches(start_worker, ready_model, small_batches):
    start_worker(queues="gpu", name="cancel")
    job = slow_job(ready_model)
    services.launch_job(job)
    wait_for(job, lambda j: j.status == JobStatus.RUNNING and j.progress > 0)
    assert services.cancel(job)
    # The worker notices and takes the next job instead of finishing this one.
    follow = make_job(ready_model, n=5, optimise_dr=False)
    services.launch_job(follow)
    follow = wait_for(follow, ended)
    assert follow.status == JobStatus.SUCCEEDED, follow.error
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.results and job.progress < 1


def test_it_never_leaves_a_job_running_after_its_worker_is_killed(start_worker, ready_model, small_batches, settings):
    worker = start_worker(queues="gpu", name="doomed")
    job = slow_job(ready_model)
    services.launch_job(job)
    wait_for(job, lambda j: j.status == JobStatus.RUNNING and j.progress > 0.02)
    worker.kill()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # the row cannot know yet
    settings.GENERATION_STALE_AFTER = 2
    time.sleep(3)
    assert services.fail_stale_work() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "Relaunch" in job.error and "heartbeat" in job.error
    start_worker(queues="gpu", name="rescuer")
    settings.GENERATION_STALE_AFTER = 300
    services.launch_job(job)
    job = wait_for(job, ended)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert all(job.summary[s]["n"] == 800 for s in SCHEMES)
