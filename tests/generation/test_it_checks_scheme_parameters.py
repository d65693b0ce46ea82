"""A job whose scheme parameters cannot make sense on the model's layer is refused in the form, not on the worker."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from generation import services
from generation.models import GenerationJob, JobStatus
from tests.generation.conftest import make_job

pytestmark = pytest.mark.django_db


def post_job(rita, model, schemes: dict, layer: str = ""):
    return rita.post(reverse("admin:generation_generationjob_add"), {
        "trained_model": model.pk, "layer": layer, "schemes": json.dumps(schemes), "samples_per_scheme": 10,
        "seed": 0, "optimise_steps": 5})


def test_it_refuses_low_active_k_beyond_the_band(rita, ready_model):
    response = post_job(rita, ready_model, {"low_active": {"k": 1_000_000_000}})
    assert response.status_code == 200
    page = response.content.decode()
    assert "low-active band" in page and "ask for at most" in page
    assert not GenerationJob.objects.exists()


def test_it_refuses_random_flip_with_a_huge_k(rita, ready_model):
    response = post_job(rita, ready_model, {"random_flip": {"k": 1_000_000_000}})
    assert response.status_code == 200
    assert "the layer has 1,000" in response.content.decode()
    assert not GenerationJob.objects.exists()


def test_it_refuses_an_unknown_layer(rita, ready_model):
    response = post_job(rita, ready_model, {"regular": {}}, layer="decoder.nowhere")
    assert response.status_code == 200
    page = response.content.decode()
    assert "no layer named" in page and "decoder.nowhere" in page
    assert not GenerationJob.objects.exists()


def test_it_accepts_sensible_parameters(rita, ready_model):
    response = post_job(rita, ready_model, {"low_active": {"k": 5}, "random_flip": {"k": 20}})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert GenerationJob.objects.get().status == JobStatus.QUEUED


def test_a_job_made_by_a_script_fails_with_the_same_reason_on_the_worker(ready_model):
    job = make_job(ready_model, n=5, schemes={"random_flip": {"k": 1_000_000_000}})
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "ask for at most 1,000" in job.error and not job.results
