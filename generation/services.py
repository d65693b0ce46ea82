"""The work of the generation app: training models, running generation jobs, building sample pools.

Celery tasks and admin actions are thin wrappers around these functions; the heavy lifting is done by
creative_core. Three promises hold throughout:

- Idempotence. A worker claims a row (queued, or running with a dead worker) under a row lock before
  working on it; a second delivery of the same task finds it claimed or finished and does nothing.
  Sample rows are unique per (job, scheme, index) and are never written twice.
- No worker is trusted to finish. A running row carries a heartbeat written at every batch; a row
  whose heartbeat is too old is failed by `fail_stale_work` (periodic task, and every admin look),
  and may then be relaunched. Every write a worker makes is conditional on the row still being
  "running", so a cancelled or given-up row is never overwritten, and the worker stops.
- Blinding. Files are named by random ids, written in shuffled order, as PNGs without metadata.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from .models import (
    MAX_SAMPLES_PER_SCHEME,
    AttentionKind,
    GenerationJob,
    JobStatus,
    PoolItem,
    Sample,
    SamplePool,
    TrainedModel,
    new_public_id,
    scheme_problem,
)

log = logging.getLogger(__name__)

# How often (seconds) a worker writes its heartbeat and looks for a cancellation while training.
POLL_SECONDS = 2.0


class JobError(Exception):
    """A failure a researcher can act on; its message is stored on the row as it is."""


class Stopped(Exception):
    """The row stopped being "running" under the worker (cancelled, or given up as stale)."""


def pick_device() -> str:
    """CUDA when present, else CPU (the project's helper when there is one)."""
    try:
        from config.devices import pick_device as project_pick_device  # type: ignore[import-not-found]
    except ImportError:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(project_pick_device())


def batch_size() -> int:
    return int(getattr(settings, "GENERATION_BATCH_SIZE", 1000))


def pool_reserve() -> int:
    """Samples per scheme whose images the results file keeps (8-bit), so that pools need no model."""
    return int(getattr(settings, "GENERATION_POOL_RESERVE", 1000))


# --- rows moved along by workers -------------------------------------------------------------------


def _claim(model: type[TrainedModel] | type[GenerationJob], pk: int) -> Any:
    """The row, now "running" for this worker; None when there is nothing to do (finished, cancelled,
    or running under a live worker: a duplicate delivery)."""
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            log.warning("%s %s is gone; nothing to do", model.__name__, pk)
            return None
        if not (row.status == JobStatus.QUEUED or row.is_stale):
            log.info("%s %s is %s; this delivery does nothing", model.__name__, pk, row.status)
            return None
        now = timezone.now()
        row.status, row.progress, row.error = JobStatus.RUNNING, 0.0, ""
        row.started_at, row.heartbeat_at, row.finished_at = now, now, None
        row.device = pick_device()
        row.save(update_fields=["status", "progress", "error", "started_at", "heartbeat_at", "finished_at", "device"])
        return row


def _beat(row: TrainedModel | GenerationJob, progress: float | None = None) -> None:
    """Heartbeat (and progress); raises Stopped when the row is no longer running."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = min(max(progress, 0.0), 1.0)
    if not type(row).objects.filter(pk=row.pk, status=JobStatus.RUNNING).update(**fields):
        raise Stopped


def _fail(row: TrainedModel | GenerationJob, message: str) -> None:
    log.error("%s %s failed: %s", type(row).__name__, row.pk, message)
    type(row).objects.filter(pk=row.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message, finished_at=timezone.now()
    )


def _message(exc: BaseException) -> str:
    import creative_core as cc

    if isinstance(exc, JobError):
        return str(exc)
    if isinstance(exc, cc.DataError):
        return f"The data set could not be loaded: {exc}. Run `python -m creative_core fetch-data` on the worker."
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return f"Out of memory ({exc}). Lower GENERATION_BATCH_SIZE or the number of samples, then relaunch."
    return f"{type(exc).__name__}: {exc}"


def fail_stale_work() -> int:
    """Fail running rows whose worker stopped writing heartbeats; returns how many."""
    failed = 0
    for model in (TrainedModel, GenerationJob):
        for row in model.objects.filter(status=JobStatus.RUNNING):
            if row.is_stale:
                seconds = int((timezone.now() - (row.heartbeat_at or row.started_at or row.created_at)).total_seconds())
                failed += model.objects.filter(pk=row.pk, status=JobStatus.RUNNING, heartbeat_at=row.heartbeat_at).update(
                    status=JobStatus.FAILED,
                    finished_at=timezone.now(),
                    error=f"The worker stopped answering (no heartbeat for {seconds} s): it was probably killed "
                    "or lost its machine. Relaunch to start again.",
                )
    return failed


def _send(task_name: str, row: TrainedModel | GenerationJob) -> None:
    from . import tasks

    task = getattr(tasks, task_name)
    task_id = new_public_id()
    type(row).objects.filter(pk=row.pk).update(task_id=task_id)
    row.task_id = task_id
    # After commit: a worker must find the row as we left it.
    transaction.on_commit(lambda: task.apply_async(args=[row.pk], task_id=task_id))


def _requeue(row: TrainedModel | GenerationJob) -> None:
    if row.status == JobStatus.RUNNING and not row.is_stale:
        raise JobError(f"{row} is running; cancel it first.")
    fields = {"status": JobStatus.QUEUED, "progress": 0.0, "error": "", "started_at": None, "finished_at": None,
              "heartbeat_at": None}
    type(row).objects.filter(pk=row.pk).update(**fields)
    for k, v in fields.items():
        setattr(row, k, v)


def launch_training(trained_model: TrainedModel) -> None:
    """Queue the training (again, when it failed or was cancelled)."""
    if trained_model.status == JobStatus.SUCCEEDED and trained_model.checkpoint:
        raise JobError(f"{trained_model} is already trained.")
    _requeue(trained_model)
    _send("train_model_task", trained_model)


def launch_job(job: GenerationJob) -> None:
    """Queue the job (again, when it failed or was cancelled), after checking that it can run."""
    if job.status == JobStatus.SUCCEEDED:
        raise JobError(f"{job} has already succeeded.")
    check_runnable(job)
    _requeue(job)
    _send("run_job_task", job)


def cancel(row: TrainedModel | GenerationJob) -> bool:
    """Cancel a queued or running row; its worker notices at the next batch. False when it had ended."""
    done = type(row).objects.filter(pk=row.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    row.refresh_from_db()
    return bool(done)


# --- training -----------------------------------------------------------------------------------------


def _poller(row: TrainedModel | GenerationJob) -> Callable[[], bool]:
    """should_stop() for creative_core: a heartbeat every POLL_SECONDS, True once the row is not running."""
    last = [0.0]

    def should_stop() -> bool:
        if time.monotonic() - last[0] < POLL_SECONDS:
            return False
        last[0] = time.monotonic()
        try:
            _beat(row)
        except Stopped:
            return True
        return False

    return should_stop


def train_model(trained_model_id: int, *, batch_size: int | None = None) -> None:
    """Train, profile and save a model (in a worker, or synchronously from a command or a test).

    `batch_size`: the training batch (default: creative_core's); the demo passes its own.
    """
    import creative_core as cc

    row = _claim(TrainedModel, trained_model_id)
    if row is None:
        return
    start = time.monotonic()
    try:
        trained = cc.train(
            row.dataset_name, epochs=row.epochs, seed=row.seed, latent_dim=row.latent_dim, arch=row.architecture,
            limit=row.train_limit, device=row.device, root=settings.DATA_ROOT, progress=False,
            **({"batch_size": batch_size} if batch_size else {}),
            on_epoch=lambda epoch, epochs, _m: _beat(row, 0.9 * epoch / epochs), should_stop=_poller(row),
        )
        profile = cc.profile(trained.model, row.dataset_name, layer=row.profile_layer or None, limit=row.train_limit,
                             device=row.device, root=settings.DATA_ROOT, progress=False)
        _beat(row, 0.95)
        name = f"checkpoints/{new_public_id()}.pt"
        path = Path(settings.MEDIA_ROOT) / name
        cc.save_checkpoint(path, trained.model, trained.meta, profile)
        metrics = {**trained.meta, "profile_layer": profile.layer, "units": int(profile.n_units),
                   "units_never_firing": int((profile.percent_active <= 0).sum()),
                   "wall_seconds": time.monotonic() - start}
        done = TrainedModel.objects.filter(pk=row.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED, progress=1.0, checkpoint=name, metrics=metrics, finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        if not done:  # cancelled in the last moment: keep nothing
            path.unlink(missing_ok=True)
    except (Stopped, cc.Cancelled):
        log.info("training of %s stopped: %s", row.pk, TrainedModel.objects.get(pk=row.pk).status)
    except Exception as exc:  # stored for the researcher; the traceback goes to the worker's log
        log.exception("training of %s failed", row.pk)
        _fail(row, "Training failed: " + _message(exc))


# --- generation jobs ---------------------------------------------------------------------------------


def check_runnable(job: GenerationJob) -> None:
    model = job.trained_model
    if not model.is_ready:
        raise JobError(
            f"The model {model} is not ready (training {model.get_status_display().lower()}"
            f"{': ' + model.error if model.error else ''}). Train it again or pick another model."
        )
    if not Path(model.checkpoint.path).is_file():
        raise JobError(
            f"The checkpoint file of model {model} is missing ({model.checkpoint.name}). "
            "Restore the file, or train the model again and make a new job for it."
        )
    problem = scheme_problem(job.schemes)
    if problem:
        raise JobError(problem)
    if not 1 <= job.samples_per_scheme <= MAX_SAMPLES_PER_SCHEME:
        raise JobError(f"Ask for between 1 and {MAX_SAMPLES_PER_SCHEME:,} samples per scheme, "
                       f"not {job.samples_per_scheme}.")


def _load(job: GenerationJob, device: str):
    """(model, activation profile of the job's layer) from the model's checkpoint."""
    import creative_core as cc

    model = job.trained_model
    try:
        ckpt = cc.load_checkpoint(model.checkpoint.path, device=device)
    except cc.CheckpointError as exc:
        raise JobError(f"The checkpoint of model {model} cannot be read ({exc}). Train the model again.") from exc
    profile = ckpt.profile
    if profile is None or (job.layer and job.layer != profile.layer):
        try:
            profile = cc.profile(ckpt.model, model.dataset_name, layer=job.layer or None, limit=model.train_limit,
                                 device=device, root=settings.DATA_ROOT, progress=False)
        except (KeyError, ValueError, IndexError) as exc:
            names = ", ".join(cc.hidden_layer_names(ckpt.model))
            raise JobError(f"Layer {job.layer!r} cannot be profiled ({exc}); the model's layers: {names}.") from exc
    return ckpt.model, profile


def _data_of(job: GenerationJob) -> dict:
    """Where a scheme that needs the model's training images (interpolation) finds them."""
    model = job.trained_model
    return {"dataset": model.dataset_name, "root": settings.DATA_ROOT, "limit": model.train_limit}


def _schemes(job: GenerationJob) -> list[str]:
    """The job's schemes in the library's order (then any other, sorted): the order of the results file."""
    import creative_core as cc

    known = [s for s in cc.SCHEME_NAMES if s in job.schemes]
    return known + sorted(set(job.schemes) - set(known))


@dataclass
class Results:
    """Every sample of a job, compactly: row i is sample `index[i]` of scheme `schemes[scheme[i]]`."""

    schemes: list[str]
    scheme: np.ndarray  # (N,) int8
    index: np.ndarray  # (N,) int32
    units: np.ndarray  # (N, k) int32, -1 padded
    noise_seed: np.ndarray  # (N,) int64, -1 when the scheme draws no noise
    z: np.ndarray  # (N, zdim) float32
    dr_amortised: np.ndarray  # (N,) float32
    dr_optimised: np.ndarray  # (N,) float32, NaN when not computed
    converged: np.ndarray  # (N,) bool
    # (schemes, R, C, H, W) uint8: the images of samples 0..R-1 of each scheme, as their PNGs will hold them.
    reserve: np.ndarray | None = None

    def save(self, name: str) -> None:
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, schemes=np.array(self.schemes), scheme=self.scheme, index=self.index, units=self.units,
                         noise_seed=self.noise_seed, z=self.z, dr_amortised=self.dr_amortised,
                         dr_optimised=self.dr_optimised, converged=self.converged,
                         **({"reserve": self.reserve} if self.reserve is not None else {}))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, job: GenerationJob) -> Results:
        if not job.results:
            raise JobError(f"{job} has no results yet (status {job.status}).")
        try:
            with job.results.open("rb") as fh, np.load(fh) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise JobError(f"The results file of {job} cannot be read ({exc}); relaunch the job.") from exc
        return cls(schemes=[str(s) for s in arrays.pop("schemes")], **arrays)

    def rows(self, scheme: str, indices: np.ndarray) -> np.ndarray:
        """Positions in the arrays of the given sample indices of one scheme."""
        s = self.schemes.index(scheme)
        pos = np.flatnonzero(self.scheme == s)
        return pos[np.searchsorted(self.index[pos], indices)]


def _pad(blocks: list[np.ndarray], width: int) -> np.ndarray:
    out = []
    for b in blocks:
        p = np.full((len(b), width), -1, dtype=np.int32)
        p[:, : b.shape[1]] = b
        out.append(p)
    return np.concatenate(out)


def run_job(job_id: int) -> None:
    """Generate and measure every sample of the job, write its results file and summary."""
    import creative_core as cc

    job = _claim(GenerationJob, job_id)
    if job is None:
        return
    try:
        _run(job)
    except (Stopped, cc.Cancelled):
        log.info("job %s stopped: %s", job.pk, GenerationJob.objects.get(pk=job.pk).status)
    except Exception as exc:  # stored for the researcher; the traceback goes to the worker's log
        log.exception("job %s failed", job.pk)
        _fail(job, _message(exc))


def _run(job: GenerationJob) -> None:
    import torch

    import creative_core as cc

    timings: dict[str, float] = {"load": 0.0, "generate": 0.0, "dr_amortised": 0.0, "dr_optimised": 0.0,
                                 "write_images": 0.0, "save": 0.0}
    t0 = time.monotonic()
    check_runnable(job)
    model, profile = _load(job, job.device)
    timings["load"] = time.monotonic() - t0
    names, n, bs = _schemes(job), job.samples_per_scheme, batch_size()
    schemes = [cc.make_scheme(name, **(job.schemes.get(name) or {})) for name in names]
    infos: dict[str, dict] = {}
    total, done = len(names) * n, 0
    cols: dict[str, list] = {k: [] for k in ("scheme", "index", "units", "noise_seed", "z", "dra", "dro", "conv")}
    keep = min(n, pool_reserve())
    reserve: list[list[np.ndarray]] = [[] for _ in names]
    # Batches outside, schemes inside: images written for a batch (write_all_images) mix every scheme.
    for start in range(0, n, bs):
        count = min(bs, n - start)
        index = np.arange(start, start + count, dtype=np.int32)
        entries: list[dict] = []
        for s_i, (name, scheme) in enumerate(zip(names, schemes, strict=True)):
            t = time.monotonic()
            out = cc.generate(model, profile, scheme, count, seed=job.seed, batch_size=bs, device=job.device,
                              progress=False, start=start, **_data_of(job))
            t1 = time.monotonic()
            timings["generate"] += t1 - t
            dra = cc.dr_amortised(model, out.images, batch_size=bs, device=job.device).numpy().astype(np.float32)
            t2 = time.monotonic()
            timings["dr_amortised"] += t2 - t1
            if job.optimise_dr:
                _beat(job)  # the optimised D_r is the longest step: a heartbeat before it too
                opt = cc.dr_optimised(model, out.images, steps=job.optimise_steps, batch_size=bs, device=job.device,
                                      progress=False)
                dro, conv = opt.values.numpy().astype(np.float32), opt.converged.numpy().astype(bool)
            else:
                dro, conv = np.full(count, np.nan, dtype=np.float32), np.zeros(count, dtype=bool)
            timings["dr_optimised"] += time.monotonic() - t2
            units = out.units.numpy().astype(np.int32)
            noise = out.noise_seed.numpy() if out.noise_seed is not None else np.full(count, -1, dtype=np.int64)
            z = out.z.numpy().astype(np.float32)
            for key, value in (("scheme", np.full(count, s_i, dtype=np.int8)), ("index", index), ("units", units),
                               ("noise_seed", noise), ("z", z), ("dra", dra), ("dro", dro), ("conv", conv)):
                cols[key].append(value)
            infos[name] = out.info or {}
            if start < keep:
                kept = out.images[: keep - start].clamp(0, 1).mul(255).round().to(dtype=torch.uint8)
                reserve[s_i].append(kept.numpy())
            if job.write_all_images:
                entries += [{"scheme": name, "index": int(index[i]), "image": out.images[i], "units": units[i],
                             "noise_seed": noise[i], "z": z[i], "dra": dra[i], "dro": dro[i], "conv": conv[i]}
                            for i in range(count)]
            done += count
            _beat(job, 0.99 * done / total)  # also the cancellation check, between batches
        if entries:
            t = time.monotonic()
            _write_samples(job, entries)
            timings["write_images"] += time.monotonic() - t
    t = time.monotonic()
    width = max(u.shape[1] for u in cols["units"])
    results = Results(
        schemes=names, scheme=np.concatenate(cols["scheme"]), index=np.concatenate(cols["index"]),
        units=_pad(cols["units"], width), noise_seed=np.concatenate(cols["noise_seed"]), z=np.concatenate(cols["z"]),
        dr_amortised=np.concatenate(cols["dra"]), dr_optimised=np.concatenate(cols["dro"]),
        converged=np.concatenate(cols["conv"]),
        reserve=np.stack([np.concatenate(r) for r in reserve]) if keep else None,
    )
    summary = {name: _scheme_summary(results, s_i, job.optimise_dr, schemes[s_i].params, infos[name])
               for s_i, name in enumerate(names)}
    name = f"results/{new_public_id()}.npz"
    results.save(name)
    timings["save"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0
    old = job.results.name if job.results else ""
    finished = GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED, progress=1.0, results=name, summary=_jsonable(summary), timings=timings,
        finished_at=timezone.now(), heartbeat_at=timezone.now(),
    )
    stale = name if not finished else old
    if stale:
        default_storage.delete(stale)


def _scheme_summary(results: Results, s_i: int, optimised: bool, params: dict, info: dict) -> dict:
    rows = results.scheme == s_i
    dra, dro, conv = results.dr_amortised[rows], results.dr_optimised[rows], results.converged[rows]
    return {
        "n": int(rows.sum()),
        "dr_amortised_mean": float(dra.mean()),
        "dr_amortised_std": float(dra.std()),
        "dr_optimised_mean": float(np.nanmean(dro)) if optimised else None,
        "dr_optimised_std": float(np.nanstd(dro)) if optimised else None,
        "converged": float(conv.mean()) if optimised else None,
        "params": dict(params),
        "info": info,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_samples(job: GenerationJob, entries: list[dict]) -> None:
    """Rows and PNG files for these samples (any schemes); samples that have their image already are kept as they
    are. Each entry: scheme, index, image, units, noise_seed, z, dra, dro, conv."""
    import creative_core as cc

    have = {(s.scheme, s.index): s for s in Sample.objects.filter(
        job=job, index__in={e["index"] for e in entries}, scheme__in={e["scheme"] for e in entries})}
    # Shuffled, so that neither primary keys nor creation order follow the scheme or the index.
    order = np.random.default_rng().permutation(len(entries))
    new: list[Sample] = []
    written: list[str] = []
    try:
        for k in order.tolist():
            e = entries[k]
            sample = have.get((e["scheme"], e["index"]))
            if sample is not None and sample.image:
                continue
            sample = sample or Sample(job=job, scheme=e["scheme"], index=e["index"])
            sample.units = [int(u) for u in e["units"] if u >= 0]
            seed = int(e["noise_seed"])
            sample.noise_seed = seed if seed >= 0 else None
            sample.z = [float(v) for v in e["z"]]
            sample.dr_amortised = float(e["dra"])
            dro = float(e["dro"])
            sample.dr_optimised = None if np.isnan(dro) else dro
            sample.dr_converged = bool(e["conv"]) if sample.dr_optimised is not None else None
            sample.image.name = default_storage.save(f"samples/{sample.public_id}.png",
                                                     ContentFile(cc.to_png_bytes(e["image"])))
            written.append(sample.image.name)
            new.append(sample)
        existing = [s for s in new if s.pk is not None]  # rows written before without an image
        with transaction.atomic():
            Sample.objects.bulk_create([s for s in new if s.pk is None])
            Sample.objects.bulk_update(existing, ["units", "noise_seed", "z", "dr_amortised", "dr_optimised",
                                                  "dr_converged", "image"])
    except BaseException:
        for name in written:  # nothing half-written
            default_storage.delete(name)
        raise


# --- sample pools ------------------------------------------------------------------------------------


def _regenerate(model, profile, job: GenerationJob, scheme: str, indices: Iterable[int], device: str):
    """{index: image} for the given samples: generation is deterministic per (seed, index), so a pooled image is
    made again rather than stored for all samples. Consecutive indices go in one call."""
    import creative_core as cc

    sch = cc.make_scheme(scheme, **(job.schemes.get(scheme) or {}))
    idx = sorted(set(int(i) for i in indices))
    images: dict[int, Any] = {}
    run_start = 0
    for k in range(1, len(idx) + 1):
        if k == len(idx) or idx[k] != idx[k - 1] + 1:
            first = idx[run_start]
            out = cc.generate(model, profile, sch, idx[k - 1] - first + 1, seed=job.seed, batch_size=batch_size(),
                              device=device, progress=False, start=first, **_data_of(job))
            for j in range(len(out)):
                images[first + j] = out.images[j]
            run_start = k
    return images


def _draw(results: Results, per_scheme: int, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """per_scheme sample indices of each scheme, as one block of consecutive indices per scheme.

    Sample i of a job depends only on (seed, i), through hashed random streams: its z and the scheme's own draws
    are independent of every other index. So a block of consecutive indices at a random offset is as random a
    sample as any scattered draw, and its images can be made again in one batched pass (scattered indices would
    need one pass each). The blocks of different schemes do not overlap when the job is large enough: schemes
    share z per index, and two images from the same z side by side would hint at their pairing."""
    names = results.schemes
    kept = 0 if results.reserve is None else results.reserve.shape[1]
    if per_scheme * len(names) <= kept:
        n = kept  # within the samples whose images are kept: nothing to make again
    if per_scheme * len(names) <= n:
        offset = int(rng.integers(0, n - per_scheme * len(names) + 1))
        slots = rng.permutation(len(names)).tolist()
        return {s: np.arange(offset + k * per_scheme, offset + (k + 1) * per_scheme) for s, k in zip(names, slots,
                                                                                                   strict=True)}
    starts = rng.integers(0, n - per_scheme + 1, size=len(names)).tolist()
    return {s: np.arange(o, o + per_scheme) for s, o in zip(names, starts, strict=True)}


def build_pool(job: GenerationJob, *, per_scheme: int, seed: int = 0, name: str = "",
               attention_checks: int = 0, attention_kind: str = AttentionKind.RECONSTRUCTION) -> SamplePool:
    """A pool of per_scheme samples of each scheme (plus attention checks of the given kind: see
    generation/attention.py), shuffled together."""
    import torch

    from . import attention

    job.refresh_from_db()
    if job.status != JobStatus.SUCCEEDED:
        raise JobError(f"{job} has not succeeded (status {job.status}); a pool needs a finished job.")
    n = job.samples_per_scheme
    if not 1 <= per_scheme <= n:
        raise JobError(f"A pool takes between 1 and {n} samples per scheme from this job, not {per_scheme}.")
    if attention_checks < 0:
        raise JobError("The number of attention checks cannot be negative.")
    attention.split(attention_kind, attention_checks)  # an unknown kind fails before any work
    results = Results.load(job)
    rng = np.random.default_rng(seed)
    drawn = _draw(results, per_scheme, n, rng)
    # This process's device, not the job's: a pool may be built on a machine without the worker's GPU.
    device = pick_device()
    entries: list[dict] = []
    model = profile = None
    for scheme, indices in drawn.items():
        have = {s.index for s in Sample.objects.filter(job=job, scheme=scheme, index__in=indices.tolist())
                .exclude(image="")}
        missing = np.array([i for i in indices.tolist() if i not in have], dtype=np.int64)
        if not len(missing):
            continue
        s_i = results.schemes.index(scheme)
        if results.reserve is not None and missing.max() < results.reserve.shape[1]:
            images = {int(i): torch.from_numpy(results.reserve[s_i, i]).float().div(255) for i in missing}
        else:
            if model is None:
                model, profile = _load(job, device)
            images = _regenerate(model, profile, job, scheme, missing, device)
        for i, row in zip(missing.tolist(), results.rows(scheme, missing).tolist(), strict=True):
            entries.append({"scheme": scheme, "index": i, "image": images[i], "units": results.units[row],
                            "noise_seed": results.noise_seed[row], "z": results.z[row],
                            "dra": results.dr_amortised[row], "dro": results.dr_optimised[row],
                            "conv": results.converged[row]})
    _write_samples(job, entries)
    samples: list[Sample] = []
    for scheme, indices in drawn.items():
        samples += list(Sample.objects.filter(job=job, scheme=scheme, index__in=indices.tolist()))
    checks = attention.check_images(job, attention_checks, kind=attention_kind, seed=seed, device=device)
    entries: list[Sample | bytes] = [*samples, *checks]
    order = rng.permutation(len(entries))
    written: list[str] = []
    try:
        with transaction.atomic():
            pool = SamplePool.objects.create(job=job, name=name or f"Pool of job {job.pk} (seed {seed})",
                                             per_scheme=per_scheme, seed=seed, attention_kind=attention_kind)
            items = []
            for position, k in enumerate(order.tolist()):
                entry = entries[k]
                item = PoolItem(pool=pool, position=position)
                if isinstance(entry, bytes):
                    item.attention_image.name = default_storage.save(f"pool-items/{item.public_id}.png",
                                                                     ContentFile(entry))
                    written.append(item.attention_image.name)
                else:
                    item.sample = entry
                items.append(item)
            PoolItem.objects.bulk_create(items)
    except BaseException:
        for f in written:
            default_storage.delete(f)
        raise
    return pool


def job_scheme_dr(job: GenerationJob) -> dict[str, dict]:
    """Per scheme: n and mean D_r (amortised, optimised) over all the job's samples."""
    return {
        scheme: {"n": v.get("n"), "dr_amortised_mean": v.get("dr_amortised_mean"),
                 "dr_optimised_mean": v.get("dr_optimised_mean")}
        for scheme, v in (job.summary or {}).items()
        if isinstance(v, dict) and "dr_amortised_mean" in v
    }


# --- researchers' views of a job -------------------------------------------------------------------------


def preview_grid(job: GenerationJob, scheme: str, count: int = 64) -> bytes:
    """A PNG grid of the first `count` samples of one scheme (researchers only: it names the scheme)."""
    import torch

    import creative_core as cc

    if scheme not in job.schemes:
        raise JobError(f"{job} has no scheme {scheme!r}.")
    check_runnable(job)
    count = max(1, min(count, job.samples_per_scheme))
    device = pick_device()
    model, profile = _load(job, device)
    images = _regenerate(model, profile, job, scheme, range(count), device)
    grid = cc.image_grid(torch.stack([images[i] for i in range(count)]), nrow=int(np.ceil(np.sqrt(count))))
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    return buf.getvalue()


CSV_COLUMNS = ["scheme", "index", "public_id", "file", "units", "noise_seed", "dr_amortised", "dr_optimised",
               "dr_converged", "z"]


def write_archive(job: GenerationJob, out: IO[bytes]) -> None:
    """A zip of the job's written PNGs and samples.csv: the provenance of every sample (researchers only)."""
    results = Results.load(job)
    written = {(s.scheme, s.index): s for s in job.samples.exclude(image="")}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        for i in range(len(results.index)):
            scheme, index = results.schemes[results.scheme[i]], int(results.index[i])
            sample = written.get((scheme, index))
            dro = float(results.dr_optimised[i])
            writer.writerow([
                scheme, index, sample.public_id if sample else "",
                f"images/{sample.public_id}.png" if sample else "",
                " ".join(str(int(u)) for u in results.units[i] if u >= 0),
                int(results.noise_seed[i]) if results.noise_seed[i] >= 0 else "",
                f"{float(results.dr_amortised[i]):.6g}", "" if np.isnan(dro) else f"{dro:.6g}",
                "" if np.isnan(dro) else int(bool(results.converged[i])),
                " ".join(f"{float(v):.6g}" for v in results.z[i]),
            ])
        zf.writestr("samples.csv", text.getvalue())
        for sample in written.values():
            with sample.image.open("rb") as fh:
                zf.writestr(f"images/{sample.public_id}.png", fh.read(), compress_type=zipfile.ZIP_STORED)


def progress_of(rows: Iterable[models.Model]) -> list[dict]:
    return [row.progress_dict() for row in rows]  # type: ignore[attr-defined]
