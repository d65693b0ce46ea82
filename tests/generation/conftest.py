"""A tiny model trained once per test run on a real MNIST subset, and rows that point at a copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from generation.models import GenerationJob, JobStatus, TrainedModel, new_public_id

SCHEMES = ("regular", "noisy", "random_flip", "low_active")
TRAIN_LIMIT = 1000


@pytest.fixture(scope="session")
def data_root() -> Path:
    import creative_core as cc

    return cc.fetch_data(root=settings.DATA_ROOT, datasets=["mnist"], progress=False)


@pytest.fixture(scope="session")
def tiny_checkpoint(data_root, tmp_path_factory) -> tuple[Path, dict]:
    """(checkpoint file, metadata) of a 1-epoch MLP VAE on 1,000 MNIST images."""
    import creative_core as cc

    trained = cc.train("mnist", epochs=1, limit=TRAIN_LIMIT, seed=0, root=data_root, progress=False, device="cpu")
    profile = cc.profile(trained.model, "mnist", limit=TRAIN_LIMIT, root=data_root, progress=False, device="cpu")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    cc.save_checkpoint(path, trained.model, trained.meta, profile)
    return path, trained.meta


@pytest.fixture
def ready_model(db, tiny_checkpoint) -> TrainedModel:
    """A trained model row whose checkpoint is a copy of the session's tiny one."""
    source, meta = tiny_checkpoint
    name = f"checkpoints/{new_public_id()}.pt"
    target = Path(settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return TrainedModel.objects.create(
        name="tiny mnist", dataset="mnist", epochs=1, train_limit=TRAIN_LIMIT, status=JobStatus.SUCCEEDED,
        progress=1.0, checkpoint=name, metrics=meta,
    )


def make_job(model: TrainedModel, n: int = 30, **extra) -> GenerationJob:
    fields = {"samples_per_scheme": n, "seed": 1, "optimise_steps": 5, "schemes": {s: {} for s in SCHEMES}}
    fields.update(extra)
    return GenerationJob.objects.create(trained_model=model, **fields)


def run_finished_job(model: TrainedModel, n: int = 30, **extra) -> GenerationJob:
    """A job run in this process to success (the worker's own code, without a worker)."""
    from generation import services

    job = make_job(model, n=n, **extra)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


@pytest.fixture
def rita(client, researcher):
    """A researcher's logged-in client."""
    from tests.factories import PASSWORD

    client.login(username=researcher.username, password=PASSWORD)
    return client
