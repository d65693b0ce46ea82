"""The surrogate metrics beyond D_r, per sample: a model's classifier, and the scorer a job measures with.

A trained model gets its classifier (creative_core.classifier, on the data `cc.surrogate_recipe` names for the
model's data set) right after training; a model trained before it had one gets it from its first job. The
scorer holds the model's training images (pixels and the classifier's features) for the exact nearest-neighbour
distances, so it is built once per job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from ..models import TrainedModel, new_public_id

log = logging.getLogger(__name__)


def classifier_epochs() -> int:
    return int(getattr(settings, "GENERATION_CLASSIFIER_EPOCHS", 1))


def train_classifier_for(row: TrainedModel, input_shape: list[int], *, device: str | None = None,
                         limit: int | None = None) -> None:
    """Train the model's classifier, save it and store it on the row (unless another worker stored one first).

    `limit`: train on that many images (default: the model's own limit); its test accuracy is measured on the
    whole test split, or on `limit` test images when the model was trained on a subset (a smoke test)."""
    import creative_core as cc
    from creative_core.classifier import save_classifier, train_classifier

    dataset, in_classes = cc.surrogate_recipe(row.dataset_name)
    channels, size = int(input_shape[0]), int(input_shape[-1])
    limit = limit if limit is not None else row.train_limit
    start = time.monotonic()
    try:
        clf = train_classifier(dataset, epochs=classifier_epochs(), limit=limit, root=settings.DATA_ROOT,
                               device=device, image_size=size, channels=channels, progress=False,
                               test_limit=row.train_limit)
    except ValueError as exc:  # e.g. an image folder with a single class: no classifier, only pixel distances
        log.info("no classifier for %s: %s", row, exc)
        row.metrics = {**row.metrics, "classifier": {"none": str(exc)}}
        TrainedModel.objects.filter(pk=row.pk).update(metrics=row.metrics)
        return
    name = f"classifiers/{new_public_id()}.pt"
    path = Path(settings.MEDIA_ROOT) / name
    save_classifier(path, clf)
    info = {"dataset": dataset, "in_classes": None if in_classes is None else list(in_classes),
            "epochs": clf.meta["epochs"], "limit": limit, "n_classes": clf.meta["n_classes"],
            "test_accuracy": clf.meta["test_accuracy"], "n_test": clf.meta["n_test"],
            "seconds": round(time.monotonic() - start, 1)}
    row.refresh_from_db(fields=["metrics", "classifier"])
    metrics = {**row.metrics, "classifier": info}
    if TrainedModel.objects.filter(Q(classifier="") | Q(classifier__isnull=True), pk=row.pk).update(
            classifier=name, metrics=metrics):
        row.classifier.name, row.metrics = name, metrics
    else:  # another worker stored one meanwhile: keep that one
        path.unlink(missing_ok=True)
        row.refresh_from_db(fields=["metrics", "classifier"])


def scorer_for(row: TrainedModel, input_shape: list[int], device: str, on_progress=None):
    """The SurrogateScorer of a model's samples: its classifier (trained now when it has none) and its own
    training images. Returns (scorer, seconds spent training a classifier). `on_progress(fraction)`: while the
    training images' features are computed."""
    import creative_core as cc
    from creative_core.classifier import load_classifier
    from creative_core.datasets import training_set

    def stored():
        return load_classifier(Path(settings.MEDIA_ROOT) / row.classifier.name, device=device).model

    classifier = None
    if row.classifier:
        try:
            classifier = stored()
        except cc.CheckpointError as exc:  # missing or corrupt: it is made again from the data, like a new one
            log.warning("the classifier of %s cannot be read (%s); training a new one", row, exc)
            TrainedModel.objects.filter(pk=row.pk, classifier=row.classifier.name).update(classifier="")
            row.refresh_from_db(fields=["metrics", "classifier"])
    trained = 0.0
    if classifier is None and not row.classifier and "none" not in row.metrics.get("classifier", {}):
        t = time.monotonic()
        train_classifier_for(row, input_shape, device=device)
        trained = time.monotonic() - t
    if classifier is None and row.classifier:  # the one trained now, or another worker's stored meanwhile
        classifier = stored()
    _, in_classes = cc.surrogate_recipe(row.dataset_name)
    channels, size = int(input_shape[0]), int(input_shape[-1])
    train = training_set(row.dataset_name, root=settings.DATA_ROOT, limit=row.train_limit, image_size=size,
                         channels=channels)
    scorer = cc.SurrogateScorer(classifier, train.images, in_classes=in_classes if classifier is not None else None,
                                device=device, on_progress=on_progress)
    return scorer, trained
