"""A redelivered or duplicated task never duplicates samples nor restarts a live job."""

from __future__ import annotations

import pytest
from django.utils import timezone

from generation import services, tasks
from generation.models import JobStatus, Sample
from tests.generation.conftest import make_job

pytestmark = pytest.mark.django_db


def test_it_adds_no_sample_on_a_second_delivery(ready_model):
    job = make_job(ready_model, n=6, write_all_images=True, optimise_dr=False)
    tasks.run_job_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    first = (job.results.name, set(Sample.objects.filter(job=job).values_list("public_id", flat=True)))
    tasks.run_job_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.results.name, set(Sample.objects.filter(job=job).values_list("public_id", flat=True))) == first
    assert len(first[1]) == 24


def test_it_leaves_a_job_with_a_live_worker_alone(ready_model):
    job = make_job(ready_model, n=6)
    job.status, job.heartbeat_at, job.started_at = JobStatus.RUNNING, timezone.now(), timezone.now()
    job.save()
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and not job.results


def test_it_takes_over_a_job_whose_worker_died(ready_model, settings):
    settings.GENERATION_STALE_AFTER = 60
    job = make_job(ready_model, n=6, write_all_images=True, optimise_dr=False)
    old = timezone.now() - timezone.timedelta(minutes=5)
    job.status, job.heartbeat_at, job.started_at = JobStatus.RUNNING, old, old
    job.save()
    tasks.run_job_task.apply(args=[job.pk])  # as Redis redelivers an unacknowledged task
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert Sample.objects.filter(job=job).count() == 24


def test_it_rewrites_no_existing_sample_on_a_relaunch(ready_model):
    job = make_job(ready_model, n=6, write_all_images=True, optimise_dr=False)
    services.run_job(job.pk)
    before = dict(Sample.objects.filter(job=job).values_list("public_id", "image"))
    job.refresh_from_db()
    job.status = JobStatus.FAILED  # e.g. failed late, then relaunched
    job.save()
    services.launch_job(job)  # the task itself is sent on commit, which never comes in this test
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert dict(Sample.objects.filter(job=job).values_list("public_id", "image")) == before
