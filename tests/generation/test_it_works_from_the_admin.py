"""Researchers create, launch, watch, cancel, relaunch, preview and download from the admin."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from generation import services
from generation.models import GenerationJob, JobStatus, TrainedModel
from tests.factories import PASSWORD
from tests.generation.conftest import SCHEMES, make_job

pytestmark = pytest.mark.django_db


def queued_messages(queue: str = "gpu") -> list[dict]:
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return [json.loads(m) for m in r.lrange(f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}{queue}", 0, -1)]


@pytest.fixture
def clean_queue():
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    key = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}gpu"
    r.delete(key)
    yield
    r.delete(key)


def job_form(model: TrainedModel, **extra) -> dict:
    data = {"trained_model": model.pk, "layer": "", "schemes": json.dumps({s: {} for s in SCHEMES}),
            "samples_per_scheme": 20, "seed": 0, "optimise_dr": "on", "optimise_steps": 5}
    data.update(extra)
    return data


def test_it_launches_a_new_job_on_the_gpu_queue(rita, ready_model, clean_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = rita.post(reverse("admin:generation_generationjob_add"), job_form(ready_model))
    assert response.status_code == 302, response.content.decode()[:2000]
    job = GenerationJob.objects.get()
    assert job.status == JobStatus.QUEUED and job.task_id
    sent = queued_messages()
    assert [m["headers"]["task"] for m in sent] == ["generation.tasks.run_job_task"]
    assert sent[0]["headers"]["id"] == job.task_id


def test_it_launches_training(rita, db, clean_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = rita.post(reverse("admin:generation_trainedmodel_add"), {
            "name": "m", "dataset": "mnist", "architecture": "mlp", "epochs": 1, "seed": 0, "train_limit": 100})
    assert response.status_code == 302
    model = TrainedModel.objects.get()
    assert [m["headers"]["task"] for m in queued_messages()] == ["generation.tasks.train_model_task"]
    assert model.status == JobStatus.QUEUED and model.created_by is not None


def test_it_refuses_a_job_for_a_failed_model(rita, ready_model):
    TrainedModel.objects.filter(pk=ready_model.pk).update(status=JobStatus.FAILED, error="diverged")
    response = rita.post(reverse("admin:generation_generationjob_add"), job_form(ready_model))
    assert response.status_code == 200
    assert "is not ready" in response.content.decode()
    assert not GenerationJob.objects.exists()


def test_it_refuses_a_job_whose_checkpoint_is_missing(rita, ready_model):
    from pathlib import Path

    Path(ready_model.checkpoint.path).unlink()
    response = rita.post(reverse("admin:generation_generationjob_add"), job_form(ready_model))
    assert response.status_code == 200
    assert "checkpoint file" in response.content.decode() and "missing" in response.content.decode()
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("samples_per_scheme", 0, "samples per scheme"),
    ("samples_per_scheme", 1_000_000, "samples per scheme"),
    ("schemes", json.dumps({"noisy": {"fractionn": 0.1}}), "fractionn"),
])
def test_it_shows_bad_input_in_the_form(rita, ready_model, field, value, message):
    response = rita.post(reverse("admin:generation_generationjob_add"), job_form(ready_model, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode().lower() or message in response.content.decode()
    assert not GenerationJob.objects.exists()


def test_it_reports_progress_to_researchers_only(client, rita, ready_model, annotator, stranger):
    job = make_job(ready_model, n=5)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.25, heartbeat_at=timezone.now())
    url = reverse("generation:progress") + f"?jobs={job.pk}&models={ready_model.pk}"
    data = rita.get(url).json()
    assert data["jobs"][0]["status"] == "running" and data["jobs"][0]["progress"] == 0.25
    assert data["models"][0]["status"] == "succeeded"
    rita.logout()
    for person in (annotator, stranger):
        client.login(username=person.username, password=PASSWORD)
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code in (302, 404)


def test_it_shows_progress_bars_on_the_list_and_the_page(rita, ready_model):
    job = make_job(ready_model, n=5)
    GenerationJob.objects.filter(pk=job.pk).update(progress=0.5)
    listing = rita.get(reverse("admin:generation_generationjob_changelist")).content.decode()
    assert f'data-kind="job" data-id="{job.pk}"' in listing and 'value="0.5"' in listing
    assert "generation/progress.js" in listing
    page = rita.get(reverse("admin:generation_generationjob_change", args=[job.pk])).content.decode()
    assert f'data-id="{job.pk}"' in page and "Cancel this job" in page


def test_it_cancels_a_running_job(rita, ready_model):
    job = make_job(ready_model, n=5)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    response = rita.post(reverse("admin:generation_generationjob_cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    services.run_job(job.pk)  # a late delivery does not revive it
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.results


def test_it_relaunches_a_failed_job(rita, ready_model, clean_queue, django_capture_on_commit_callbacks):
    job = make_job(ready_model, n=5)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="worker lost", progress=0.4)
    with django_capture_on_commit_callbacks(execute=True):
        response = rita.post(reverse("admin:generation_generationjob_changelist"),
                             {"action": "launch", "_selected_action": [job.pk]})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.error, job.progress) == (JobStatus.QUEUED, "", 0.0)
    assert [m["headers"]["id"] for m in queued_messages()] == [job.task_id]


def test_it_fails_a_stale_running_job_when_the_list_is_shown(rita, ready_model, settings):
    settings.GENERATION_STALE_AFTER = 60
    job = make_job(ready_model, n=5)
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING,
                                                   heartbeat_at=timezone.now() - timezone.timedelta(minutes=3))
    rita.get(reverse("admin:generation_generationjob_changelist"))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "Relaunch" in job.error


def test_it_previews_and_downloads_a_finished_job(rita, client, ready_model, annotator):
    job = make_job(ready_model, n=12, optimise_dr=False)
    services.run_job(job.pk)
    job.refresh_from_db()
    pool = services.build_pool(job, per_scheme=2)
    png = rita.get(reverse("admin:generation_generationjob_preview", args=[job.pk, "low_active"]) + "?n=9")
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    archive = rita.get(reverse("admin:generation_generationjob_download", args=[job.pk]))
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("samples.csv").decode())))
        images = [n for n in zf.namelist() if n.startswith("images/")]
    assert len(rows) == 4 * 12 and {r["scheme"] for r in rows} == set(SCHEMES)
    pooled = {i.sample.public_id for i in pool.items.select_related("sample")}
    assert {n[len("images/"):-len(".png")] for n in images} == pooled
    assert {r["public_id"] for r in rows if r["file"]} == pooled
    rita.logout()
    client.login(username=annotator.username, password=PASSWORD)
    denied = client.get(reverse("admin:generation_generationjob_preview", args=[job.pk, "low_active"]))
    assert denied.status_code == 302 and not denied.content.startswith(b"\x89PNG")


def test_it_builds_a_pool_from_the_job_page(rita, ready_model, django_capture_on_commit_callbacks):
    """The form queues a PoolBuild on the "default" queue and shows its page; the task makes the pool."""
    from generation.models import PoolBuild

    job = make_job(ready_model, n=12, optimise_dr=False)
    services.run_job(job.pk)
    key = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}default"
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(key)
    with django_capture_on_commit_callbacks(execute=True):
        response = rita.post(reverse("admin:generation_generationjob_pool", args=[job.pk]),
                             {"per_scheme": 3, "attention_checks": 1, "seed": 0, "name": "first",
                              "accept_spottable_checks": "on"})
    build = PoolBuild.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:generation_poolbuild_change", args=[build.pk])
    assert (build.status, build.per_scheme, build.attention_checks, build.created_by.username) == (
        JobStatus.QUEUED, 3, 1, "rita")
    sent = queued_messages("default")
    assert [(m["headers"]["task"], m["headers"]["id"]) for m in sent] == [
        ("generation.tasks.build_pool_task", build.task_id)]
    page = rita.get(response["Location"]).content.decode()
    assert f'data-kind="build" data-id="{build.pk}"' in page and "Cancel this build" in page
    assert not job.pools.exists()  # nothing until the task has run
    services.run_pool_build(build.pk)
    build.refresh_from_db()
    pool = job.pools.get()
    assert build.status == JobStatus.SUCCEEDED and build.pool == pool
    assert pool.name == "first" and pool.items.count() == 13
    assert "Open the pool" in rita.get(response["Location"]).content.decode()
    too_many = rita.post(reverse("admin:generation_generationjob_pool", args=[job.pk]),
                         {"per_scheme": 13, "attention_checks": 0, "seed": 0})
    assert too_many.status_code == 200 and "12" in too_many.content.decode()
    assert PoolBuild.objects.count() == 1


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_the_job_form_takes_the_pool_forms_seed_rule(rita, ready_model, seed):
    response = rita.post(reverse("admin:generation_generationjob_add"), job_form(ready_model, seed=seed))
    assert response.status_code == 200
    assert "seed" in response.content.decode().lower()
    assert not GenerationJob.objects.exists()
    model = rita.post(reverse("admin:generation_trainedmodel_add"), {
        "name": "m", "dataset": "mnist", "architecture": "mlp", "epochs": 1, "seed": seed, "train_limit": 100})
    assert model.status_code == 200 and not TrainedModel.objects.exclude(pk=ready_model.pk).exists()
