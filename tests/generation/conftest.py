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

    return cc.fetch_data(root=settings.DATA_ROOT, datasets=["mnist", "fmnist"], progress=False)


@pytest.fixture(scope="session")
def tiny_checkpoint(data_root, tmp_path_factory) -> tuple[Path, dict]:
    """(checkpoint file, metadata) of a 1-epoch MLP VAE on 1,000 MNIST images."""
    import creative_core as cc

    trained = cc.train("mnist", epochs=1, limit=TRAIN_LIMIT, seed=0, root=data_root, progress=False, device="cpu")
    profile = cc.profile(trained.model, "mnist", limit=TRAIN_LIMIT, root=data_root, progress=False, device="cpu")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    cc.save_checkpoint(path, trained.model, trained.meta, profile)
    return path, trained.meta


@pytest.fixture(scope="session")
def tiny_classifier(data_root, tmp_path_factory) -> tuple[Path, dict]:
    """(classifier file, the model row's metrics entry) of the small CNN of the surrogates, as a model trained on
    1,000 MNIST images gets it: 1 epoch on 1,000 MNIST + Fashion-MNIST images."""
    import creative_core as cc
    from creative_core.classifier import save_classifier, train_classifier

    dataset, in_classes = cc.surrogate_recipe("mnist")
    clf = train_classifier(dataset, epochs=1, limit=TRAIN_LIMIT, root=data_root, device="cpu", progress=False,
                           test_limit=TRAIN_LIMIT)
    path = tmp_path_factory.mktemp("clf") / "tiny-clf.pt"
    save_classifier(path, clf)
    return path, {"dataset": dataset, "in_classes": list(in_classes), "epochs": 1, "limit": TRAIN_LIMIT,
                  "n_classes": clf.meta["n_classes"], "test_accuracy": clf.meta["test_accuracy"],
                  "n_test": clf.meta["n_test"], "seconds": round(clf.meta["seconds"], 1)}


def _copy_into_media(source: Path, folder: str) -> str:
    name = f"{folder}/{new_public_id()}.pt"
    target = Path(settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return name


@pytest.fixture
def ready_model(db, tiny_checkpoint, tiny_classifier) -> TrainedModel:
    """A trained model row whose checkpoint and classifier are copies of the session's tiny ones."""
    (source, meta), (clf_source, clf_info) = tiny_checkpoint, tiny_classifier
    return TrainedModel.objects.create(
        name="tiny mnist", dataset="mnist", epochs=1, train_limit=TRAIN_LIMIT, status=JobStatus.SUCCEEDED,
        progress=1.0, checkpoint=_copy_into_media(source, "checkpoints"),
        classifier=_copy_into_media(clf_source, "classifiers"), metrics={**meta, "classifier": clf_info},
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
