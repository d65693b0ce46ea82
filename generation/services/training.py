"""Training a model: queue it, and (on a worker) train, profile and save its checkpoint."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..errors import JobError, Stopped
from ..models import JobStatus, TrainedModel, new_public_id
from .common import POLL_SECONDS, message_of
from .rows import beat, claim, fail, poller, requeue, send
from .surrogates import train_classifier_for

log = logging.getLogger(__name__)


def launch_training(trained_model: TrainedModel) -> None:
    """Queue the training (again, when it failed or was cancelled)."""
    if trained_model.status == JobStatus.SUCCEEDED and trained_model.checkpoint:
        raise JobError(f"{trained_model} is already trained.")
    requeue(trained_model)
    send("train_model_task", trained_model)


def _within_epochs(row: TrainedModel):
    """on_batch for cc.train: the row's progress through an epoch (training is 90% of the bar), every few seconds."""
    last = [time.monotonic()]

    def on_batch(epoch: int, seen: int, n_train: int) -> None:
        if time.monotonic() - last[0] >= POLL_SECONDS:
            last[0] = time.monotonic()
            beat(row, 0.9 * (epoch - 1 + seen / n_train) / row.epochs)

    return on_batch


def train_model(trained_model_id: int, *, batch_size: int | None = None, classifier_limit: int | None = None) -> None:
    """Train, profile and save a model, then train its classifier (in a worker, or synchronously from a command
    or a test).

    `batch_size`: the training batch (default: creative_core's); the demo passes its own, and a smaller set for
    the classifier (`classifier_limit` images; default: the model's own limit).
    """
    import creative_core as cc

    row = claim(TrainedModel, trained_model_id)
    if row is None:
        return
    start = time.monotonic()
    try:
        trained = cc.train(
            row.dataset_name, epochs=row.epochs, seed=row.seed, latent_dim=row.latent_dim, arch=row.architecture,
            limit=row.train_limit, device=row.device, root=settings.DATA_ROOT, progress=False,
            **({"batch_size": batch_size} if batch_size else {}),
            on_epoch=lambda epoch, epochs, _m: beat(row, 0.9 * epoch / epochs), should_stop=poller(row),
            on_batch=_within_epochs(row),
        )
        profile = cc.profile(trained.model, row.dataset_name, layer=row.profile_layer or None, limit=row.train_limit,
                             device=row.device, root=settings.DATA_ROOT, progress=False)
        beat(row, 0.93)
        try:  # the model is usable without it: its first job trains a missing classifier
            train_classifier_for(row, trained.meta["input_shape"], device=row.device, limit=classifier_limit)
        except Exception:
            log.exception("the classifier of %s failed; its first job trains one", row.pk)
        beat(row, 0.98)
        name = f"checkpoints/{new_public_id()}.pt"
        path = Path(settings.MEDIA_ROOT) / name
        cc.save_checkpoint(path, trained.model, trained.meta, profile)
        metrics = {**trained.meta, "profile_layer": profile.layer, "units": int(profile.n_units),
                   "units_never_firing": int((profile.percent_active <= 0).sum()),
                   **({"classifier": row.metrics["classifier"]} if "classifier" in row.metrics else {}),
                   "wall_seconds": time.monotonic() - start}
        done = TrainedModel.objects.filter(pk=row.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED, progress=1.0, checkpoint=name, metrics=metrics, finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        if not done:  # cancelled in the last moment: keep nothing
            path.unlink(missing_ok=True)
            if row.classifier:
                (Path(settings.MEDIA_ROOT) / row.classifier.name).unlink(missing_ok=True)
                TrainedModel.objects.filter(pk=row.pk, classifier=row.classifier.name).update(classifier="")
    except (Stopped, cc.Cancelled):
        log.info("training of %s stopped: %s", row.pk, TrainedModel.objects.get(pk=row.pk).status)
    except Exception as exc:  # stored for the researcher; the traceback goes to the worker's log
        log.exception("training of %s failed", row.pk)
        fail(row, "Training failed: " + message_of(exc))
