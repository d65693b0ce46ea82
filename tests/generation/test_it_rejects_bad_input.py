"""Bad input gets a clear error and leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from generation import services
from generation.models import GenerationJob, JobStatus, Sample, TrainedModel
from tests.generation.conftest import make_job

pytestmark = pytest.mark.django_db


def test_it_refuses_a_job_for_a_model_that_failed_training(ready_model):
    ready_model.status, ready_model.error = JobStatus.FAILED, "CUDA out of memory"
    ready_model.save()
    job = GenerationJob(trained_model=ready_model, samples_per_scheme=10)
    with pytest.raises(ValidationError) as err:
        job.full_clean()
    assert "not ready" in str(err.value.message_dict["trained_model"])


@pytest.mark.parametrize("n", [0, 100_001])
def test_it_refuses_absurd_sample_counts(ready_model, n):
    job = GenerationJob(trained_model=ready_model, samples_per_scheme=n)
    with pytest.raises(ValidationError) as err:
        job.full_clean()
    assert "samples_per_scheme" in err.value.message_dict


def test_it_refuses_an_unknown_scheme_parameter(ready_model):
    job = GenerationJob(trained_model=ready_model, samples_per_scheme=10, schemes={"low_active": {"kk": 5}})
    with pytest.raises(ValidationError) as err:
        job.full_clean()
    message = " ".join(err.value.message_dict["schemes"])
    assert "kk" in message and "low_active" in message


def test_it_refuses_an_unknown_scheme(ready_model):
    job = GenerationJob(trained_model=ready_model, samples_per_scheme=10, schemes={"creative": {}})
    with pytest.raises(ValidationError, match="unknown scheme"):
        job.full_clean()


def test_it_accepts_the_default_schemes(ready_model):
    job = GenerationJob(trained_model=ready_model, samples_per_scheme=10)
    job.full_clean()
    assert set(job.schemes) == {"regular", "noisy", "random_flip", "low_active"}


def test_it_fails_a_job_whose_checkpoint_is_gone(ready_model):
    job = make_job(ready_model, n=10)
    Path(ready_model.checkpoint.path).unlink()
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "checkpoint file" in job.error and "missing" in job.error
    assert not job.results and Sample.objects.count() == 0
    with pytest.raises(services.JobError, match="missing"):
        services.launch_job(job)


def test_it_fails_a_job_whose_checkpoint_is_corrupt(ready_model):
    job = make_job(ready_model, n=10)
    Path(ready_model.checkpoint.path).write_bytes(b"not a checkpoint")
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "cannot be read" in job.error and "Train the model again" in job.error


def test_it_stores_a_readable_error_when_training_data_is_missing(db, tmp_path, settings):
    settings.DATA_ROOT = tmp_path / "empty"
    model = TrainedModel.objects.create(name="no data", dataset="fmnist", epochs=1, train_limit=100)
    services.train_model(model.pk)
    model.refresh_from_db()
    assert model.status == JobStatus.FAILED
    assert model.error.startswith("Training failed:") and "fetch-data" in model.error
    assert not model.checkpoint
