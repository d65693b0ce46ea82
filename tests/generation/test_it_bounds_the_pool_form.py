"""Every number of the pool form is bounded: an absurd one gets a form error, and leaves no file and no row."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from generation import services
from generation.models import GenerationJob, PoolBuild, PoolItem, Sample, SamplePool
from generation.services import pool_requests
from tests.generation.conftest import run_finished_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_job(ready_model) -> GenerationJob:
    return run_finished_job(ready_model, n=10, optimise_dr=False)


def media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for sub in ("samples", "pool-items", "staging") if (root / sub).exists()
            for p in (root / sub).rglob("*") if p.is_file()}


def assert_nothing_made(before: set[str]) -> None:
    assert not PoolBuild.objects.exists() and not SamplePool.objects.exists()
    assert not Sample.objects.exists() and not PoolItem.objects.exists()
    assert media_files() == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("attention_checks", 10**12, "At most 40 attention checks"),
    ("attention_checks", -1, "greater than or equal to 0"),
    ("seed", 10**20, "less than or equal to 4294967295"),
    ("seed", -1, "greater than or equal to 0"),
    ("per_scheme", 11, "less than or equal to 10"),
    ("per_scheme", 0, "greater than or equal to 1"),
])
def test_it_refuses_an_absurd_number_in_the_form(rita, finished_job, field, value, message):
    before = media_files()
    data = {"per_scheme": 10, "attention_checks": 0, "seed": 0, "name": "", field: value}
    response = rita.post(reverse("admin:generation_generationjob_pool", args=[finished_job.pk]), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert_nothing_made(before)


def test_it_refuses_more_attention_checks_than_the_training_set(rita, finished_job, monkeypatch):
    monkeypatch.setattr(pool_requests, "training_set_size", lambda job, train=True: 3)
    before = media_files()
    response = rita.post(reverse("admin:generation_generationjob_pool", args=[finished_job.pk]),
                         {"per_scheme": 2, "attention_checks": 4, "seed": 0})
    assert response.status_code == 200
    assert "The data set has 3 held-out (test) images" in response.content.decode()
    assert_nothing_made(before)


@pytest.mark.parametrize(("params", "message"), [
    ({"per_scheme": 2, "attention_checks": 10**12}, "At most 8 attention checks"),
    ({"per_scheme": 2, "seed": 10**20}, "between 0 and 4,294,967,295"),
    ({"per_scheme": 2, "seed": -1}, "between 0 and 4,294,967,295"),
])
def test_the_services_refuse_them_too(finished_job, params, message):
    """A script (or a stale form) reaching the services directly gets the same refusal, before any work."""
    before = media_files()
    with pytest.raises(services.JobError, match=message.replace("*", r"\*")):
        services.build_pool(finished_job, **params)
    with pytest.raises(services.JobError, match=message):
        services.launch_pool_build(finished_job, **params)
    assert_nothing_made(before)


def test_the_form_offers_attention_checks_by_default(finished_job):
    """A pool without checks gives the panel's failed-checks code no evidence: one image in twenty is offered."""
    from generation.forms import PoolForm

    form = PoolForm(job=finished_job)
    per_scheme = form.fields["per_scheme"].initial
    assert per_scheme == finished_job.samples_per_scheme == 10
    assert form.fields["attention_checks"].initial == max(1, per_scheme * len(finished_job.schemes) // 20) == 2
