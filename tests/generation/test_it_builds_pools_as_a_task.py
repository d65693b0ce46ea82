"""A pool is built by a task with a PoolBuild row; a failed, cancelled or killed build leaves no file and no row."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from generation import services
from generation.models import GenerationJob, JobStatus, PoolBuild, PoolItem, Sample, SamplePool
from generation.services import pools
from tests.generation.conftest import SCHEMES, make_job
from tests.waiting import wait_for_row


def media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for sub in ("samples", "pool-items") if (root / sub).exists()
            for p in (root / sub).rglob("*") if p.is_file()}


def staged_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT) / "staging"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def finished(model, n: int = 10) -> GenerationJob:
    job = make_job(model, n=n, optimise_dr=False)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def assert_nothing_kept(job: GenerationJob, before: set[str]) -> None:
    assert not SamplePool.objects.filter(job=job).exists() and not PoolItem.objects.exists()
    assert not Sample.objects.filter(job=job).exists()
    assert media_files() == before
    assert staged_files() == set()


@pytest.mark.django_db
def test_a_cancel_during_the_build_keeps_nothing(ready_model, monkeypatch):
    job = finished(ready_model)
    before = media_files()
    build = services.launch_pool_build(job, per_scheme=5, attention_checks=2, seed=3, accept_spottable_checks=True)
    staged: list[int] = []
    real_beat = pools.beat

    def cancel_once_staged(row, progress=None):
        if progress is not None and progress >= 0.95 and not staged:
            staged.append(len([p for p in (pools.staging_root() / f"build-{row.pk}").rglob("*.png")]))
            services.cancel(PoolBuild.objects.get(pk=row.pk))  # the researcher presses Cancel now
        real_beat(row, progress)

    monkeypatch.setattr(pools, "beat", cancel_once_staged)
    services.run_pool_build(build.pk)
    build.refresh_from_db()
    assert staged == [4 * 5 + 2]  # every PNG was written (to staging) when the cancel came
    assert build.status == JobStatus.CANCELLED and build.pool is None
    assert_nothing_kept(job, before)


@pytest.mark.django_db
def test_a_failure_while_moving_files_into_place_keeps_nothing(ready_model, monkeypatch):
    job = finished(ready_model)
    before = media_files()
    build = services.launch_pool_build(job, per_scheme=5, seed=3)
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 7:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(pools.os, "replace", failing_replace)
    services.run_pool_build(build.pk)
    monkeypatch.setattr(pools.os, "replace", real_replace)
    build.refresh_from_db()
    assert len(calls) == 7  # six files were in place before the failure
    assert build.status == JobStatus.FAILED and "No space left on device" in build.error
    assert_nothing_kept(job, before)


@pytest.mark.django_db
def test_the_sweep_fails_a_dead_build_and_removes_its_staging_folder(ready_model, settings):
    settings.GENERATION_STALE_AFTER = 60
    job = finished(ready_model)
    dead = PoolBuild.objects.create(job=job, per_scheme=2, status=JobStatus.RUNNING,
                                    started_at=timezone.now() - timezone.timedelta(minutes=5),
                                    heartbeat_at=timezone.now() - timezone.timedelta(minutes=5))
    live = PoolBuild.objects.create(job=job, per_scheme=2, status=JobStatus.RUNNING, started_at=timezone.now(),
                                    heartbeat_at=timezone.now())
    ended = PoolBuild.objects.create(job=job, per_scheme=2, status=JobStatus.CANCELLED)
    for build in (dead, live, ended):
        folder = pools.staging_root() / f"build-{build.pk}" / "samples"
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(b"\x89PNG")
    assert services.fail_stale_work() == 1
    dead.refresh_from_db()
    assert dead.status == JobStatus.FAILED and "Build the pool again" in dead.error
    left = {p.name for p in pools.staging_root().iterdir()}
    assert f"build-{live.pk}" in left and f"build-{dead.pk}" not in left and f"build-{ended.pk}" not in left
    shutil.rmtree(pools.staging_root() / f"build-{live.pk}")


@pytest.mark.django_db
def test_a_synchronous_build_leaves_no_staging_folder(ready_model):
    job = finished(ready_model)
    pool = services.build_pool(job, per_scheme=3, attention_checks=1, accept_spottable_checks=True)
    assert pool.items.count() == 13
    assert all(item.image_file.storage.exists(item.image_file.name) for item in pool.items.all())
    assert not any(p.name.startswith("sync-") for p in pools.staging_root().iterdir())


# --- on a real worker -------------------------------------------------------------------------------------------


def wait_for(row, until, stall: float = 180):
    """The row once until(row); fails only when it stops moving (status, progress, heartbeat) for `stall` s."""
    return wait_for_row(row, until, stall=stall)


@pytest.mark.worker
def test_a_worker_of_the_default_queue_builds_the_pool(start_worker, ready_model):
    start_worker(queues="default", name="pools")  # no gpu queue: the build must be routed to "default"
    job = finished(ready_model)
    build = services.launch_pool_build(job, per_scheme=4, attention_checks=2, seed=5, name="by the worker", accept_spottable_checks=True)
    build = wait_for(build, lambda b: not b.is_active)
    assert build.status == JobStatus.SUCCEEDED, build.error
    assert build.progress == 1.0 and build.device and build.finished_at
    assert build.pool.name == "by the worker" and build.pool.items.count() == 4 * 4 + 2
    assert {i.sample.scheme for i in build.pool.items.exclude(sample=None)} == set(SCHEMES)
    assert not (pools.staging_root() / f"build-{build.pk}").exists()


@pytest.mark.worker
def test_a_killed_build_leaves_nothing_once_the_sweep_has_run(start_worker, ready_model, settings):
    settings.GENERATION_POOL_RESERVE = 0  # every image is made again: a build long enough to be killed midway
    job = finished(ready_model, n=2000)
    before = media_files()
    worker = start_worker(queues="default", name="doomed-pool")
    build = services.launch_pool_build(job, per_scheme=2000, seed=1)
    staging = pools.staging_root() / f"build-{build.pk}"
    wait_for(build, lambda b: b.status == JobStatus.RUNNING and any(staging.rglob("*.png")))
    worker.kill()
    build.refresh_from_db()
    assert build.status == JobStatus.RUNNING and any(staging.rglob("*.png"))  # killed while writing
    settings.GENERATION_STALE_AFTER = 0
    assert services.fail_stale_work() >= 1
    build.refresh_from_db()
    assert build.status == JobStatus.FAILED and "Build the pool again" in build.error
    assert not staging.exists()
    assert_nothing_kept(job, before)
