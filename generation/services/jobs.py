"""Generation jobs: queue one after checking it can run, and (on a worker) generate and measure every sample."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from ..errors import JobError, Stopped
from ..models import (
    MAX_SAMPLES_PER_SCHEME,
    MEASURED_FIELDS,
    GenerationJob,
    JobStatus,
    Sample,
    new_public_id,
    scheme_problem,
)
from .common import batch_size, message_of, pool_reserve
from .matching import matched_schemes
from .progress import Meter, job_work
from .remake import data_of, measured_scheme, ordered_summary, regenerate  # noqa: F401 (the job API)
from .results import Results, measured_fields
from .rows import claim, fail, requeue, send
from .surrogates import scorer_for

log = logging.getLogger(__name__)


def launch_job(job: GenerationJob) -> None:
    """Queue the job (again, when it failed or was cancelled), after checking that it can run."""
    if job.status == JobStatus.SUCCEEDED:
        raise JobError(f"{job} has already succeeded.")
    check_runnable(job)
    requeue(job)
    send("run_job_task", job)


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


def scheme_fit_problems(job: GenerationJob) -> dict[str, str]:
    """{form field: why} when the job's layer does not exist or its scheme parameters make no sense on that layer
    (k beyond the layer or the low-active band, ...), judged on the model's checkpoint; empty when the job can run."""
    import creative_core as cc

    model = job.trained_model
    try:
        ckpt = cc.load_checkpoint(model.checkpoint.path, device="cpu")
    except (cc.CheckpointError, OSError, ValueError):
        return {}  # check_runnable and the worker say what is wrong with the checkpoint
    try:
        layer, _module = cc.resolve_layer(ckpt.model, job.layer or None)
        n_units = cc.layer_size(ckpt.model, layer)
    except ValueError as exc:
        return {"layer": f"{exc}. Leave it empty for the decoder's 3rd hidden layer."}
    profile = ckpt.profile if ckpt.profile is not None and ckpt.profile.layer == layer else None
    problems = cc.check_schemes(job.schemes if isinstance(job.schemes, dict) else {}, n_units, profile)
    if problems:
        return {"schemes": " ".join(f"{why[:1].upper()}{why[1:]}." for why in problems.values())}
    return {}


def load_model(job: GenerationJob, device: str):
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


def _schemes(job: GenerationJob) -> list[str]:
    """The job's schemes in the library's order (then any other, sorted): the order of the results file."""
    import creative_core as cc

    known = [s for s in cc.SCHEME_NAMES if s in job.schemes]
    return known + sorted(set(job.schemes) - set(known))


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

    job = claim(GenerationJob, job_id)
    if job is None:
        return
    try:
        _run(job)
    except (Stopped, cc.Cancelled):
        log.info("job %s stopped: %s", job.pk, GenerationJob.objects.get(pk=job.pk).status)
    except Exception as exc:  # stored for the researcher; the traceback goes to the worker's log
        log.exception("job %s failed", job.pk)
        fail(job, message_of(exc))


TIMED = ("load", "generate", "dr_amortised", "dr_optimised", "classifier", "surrogates", "write_images", "save")


@dataclass
class _Run:
    """What a running job holds between its steps: the model and schemes, the scorer, the columns of the results
    file gathered batch by batch, the timings and the progress meter."""

    job: GenerationJob
    model: Any
    profile: Any
    names: list[str]
    schemes: list
    timings: dict[str, float]
    meter: Meter | None = None
    scorer: Any = None
    cols: dict[str, list] = field(default_factory=dict)
    reserve: list[list[np.ndarray]] = field(default_factory=list)
    infos: dict[str, dict] = field(default_factory=dict)

    @property
    def keep(self) -> int:
        return min(self.job.samples_per_scheme, pool_reserve())

    def lap(self, key: str, since: float) -> float:
        now = time.monotonic()
        self.timings[key] += now - since
        return now


def _run(job: GenerationJob) -> None:
    t0 = time.monotonic()
    run = _prepare(job)
    run.timings["load"] = time.monotonic() - t0
    _set_up_scorer(run)
    n, bs = job.samples_per_scheme, batch_size()
    # Batches outside, schemes inside: images written for a batch (write_all_images) mix every scheme.
    for start in range(0, n, bs):
        count = min(bs, n - start)
        entries: list[dict] = []
        for s_i in range(len(run.names)):
            entries += _measure(run, s_i, start, count)
        if entries:
            t = time.monotonic()
            _write_samples(job, entries)
            run.lap("write_images", t)
            run.meter.add(run.meter.share("write_images", len(entries), n * len(run.names)))
    _finish(run, t0)


def _prepare(job: GenerationJob) -> _Run:
    """The job's model, profile and schemes, checked."""
    import creative_core as cc

    check_runnable(job)
    model, profile = load_model(job, job.device)
    problems = cc.check_schemes(job.schemes, profile.n_units, profile)
    if problems:  # refused by the form too; this catches jobs made by scripts
        raise JobError(" ".join(f"{why[:1].upper()}{why[1:]}." for why in problems.values()))
    names = _schemes(job)
    schemes = [cc.make_scheme(name, **(job.schemes.get(name) or {})) for name in names]
    if job.match_novelty:
        schemes = matched_schemes(job, model, profile, names, schemes)
    run = _Run(job, model, profile, names, schemes, timings=dict.fromkeys(TIMED, 0.0))
    run.cols = {k: [] for k in ("scheme", "index", "units", "noise_seed", "z", "dra", "dro", "conv",
                                *cc.SURROGATE_NAMES)}
    run.reserve = [[] for _ in names]
    trained = job.trained_model
    n_train = int(trained.metrics.get("n_train") or trained.train_limit or 60_000)
    run.meter = Meter(job, job_work(job, n_train, len(names)))
    return run


def _set_up_scorer(run: _Run) -> None:
    """The surrogate scorer: the training images and their features, for the nearest-neighbour distances (then
    the scoring, per batch)."""
    t = time.monotonic()
    setup = run.meter.work["setup"]
    run.scorer, run.timings["classifier"] = scorer_for(run.job.trained_model, list(run.model.input_shape),
                                                       run.job.device, on_progress=run.meter.within(setup))
    run.timings["surrogates"] = time.monotonic() - t - run.timings["classifier"]
    run.meter.add(setup)


def _measure(run: _Run, s_i: int, start: int, count: int) -> list[dict]:
    """Generate and measure `count` samples of one scheme from `start`; the entries to write as images when the
    job writes them all. Each phase moves the progress bar by its share."""
    import creative_core as cc

    job, meter = run.job, run.meter
    of, bs = job.samples_per_scheme * len(run.names), batch_size()
    t = time.monotonic()
    out = cc.generate(run.model, run.profile, run.schemes[s_i], count, seed=job.seed, batch_size=bs,
                      device=job.device, progress=False, start=start, **data_of(job))
    t = run.lap("generate", t)
    meter.add(meter.share("generate", count, of))
    dra = cc.dr_amortised(run.model, out.images, batch_size=bs, device=job.device).numpy().astype(np.float32)
    t = run.lap("dr_amortised", t)
    meter.add(meter.share("dr_amortised", count, of))
    if job.optimise_dr:
        share = meter.share("dr_optimised", count, of)
        # two starts: the encoder mean and the image's own generating latent (see cc.dr_optimised)
        opt = cc.dr_optimised(run.model, out.images, steps=job.optimise_steps, batch_size=bs, device=job.device,
                              progress=False, starts=[out.z], on_progress=meter.within(share))
        dro, conv = opt.values.numpy().astype(np.float32), opt.converged.numpy().astype(bool)
        meter.add(share)
    else:
        dro, conv = np.full(count, np.nan, dtype=np.float32), np.zeros(count, dtype=bool)
    t = run.lap("dr_optimised", t)
    scores = _scores(run, out.images, meter.share("surrogates", count, of))
    run.lap("surrogates", t)
    return _gather(run, s_i, start, out, {"dra": dra, "dro": dro, "conv": conv}, scores)


def _scores(run: _Run, images, share: float) -> dict[str, np.ndarray]:
    """The surrogate metrics of the images, a slice at a time so that the bar moves through them too."""
    parts = [{k: v.numpy().astype(np.float32) for k, v in run.scorer.score(part).items()}
             for part in _slices(images, run.meter, share)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _slices(images, meter: Meter, share: float, size: int = 250):
    for part in images.split(size):
        yield part
        meter.add(share * len(part) / len(images))


def _gather(run: _Run, s_i: int, start: int, out, measured: dict[str, np.ndarray],
            scores: dict[str, np.ndarray]) -> list[dict]:
    """Append one scheme's batch to the results' columns (and the pool reserve); its image entries when the job
    writes every image."""
    import torch

    job, name, count = run.job, run.names[s_i], len(out.images)
    index = np.arange(start, start + count, dtype=np.int32)
    units = out.units.numpy().astype(np.int32)
    noise = out.noise_seed.numpy() if out.noise_seed is not None else np.full(count, -1, dtype=np.int64)
    z = out.z.numpy().astype(np.float32)
    for key, value in (("scheme", np.full(count, s_i, dtype=np.int8)), ("index", index), ("units", units),
                       ("noise_seed", noise), ("z", z), *measured.items(), *scores.items()):
        run.cols[key].append(value)
    run.infos[name] = out.info or {}
    if start < run.keep:
        kept = out.images[: run.keep - start].clamp(0, 1).mul(255).round().to(dtype=torch.uint8)
        run.reserve[s_i].append(kept.numpy())
    if not job.write_all_images:
        return []
    dra, dro, conv = measured["dra"], measured["dro"], measured["conv"]
    return [{"scheme": name, "index": int(index[i]), "image": out.images[i], "units": units[i],
             "noise_seed": noise[i], "z": z[i],
             "fields": measured_fields(dra[i], dro[i], conv[i], {k: v[i] for k, v in scores.items()})}
            for i in range(count)]


def _finish(run: _Run, t0: float) -> None:
    """Write the results file and the summary; the job succeeds (unless it was cancelled meanwhile)."""
    import creative_core as cc

    job, cols, names = run.job, run.cols, run.names
    t = time.monotonic()
    width = max(u.shape[1] for u in cols["units"])
    results = Results(
        schemes=names, scheme=np.concatenate(cols["scheme"]), index=np.concatenate(cols["index"]),
        units=_pad(cols["units"], width), noise_seed=np.concatenate(cols["noise_seed"]), z=np.concatenate(cols["z"]),
        dr_amortised=np.concatenate(cols["dra"]), dr_optimised=np.concatenate(cols["dro"]),
        converged=np.concatenate(cols["conv"]),
        reserve=np.stack([np.concatenate(r) for r in run.reserve]) if run.keep else None,
        metrics={k: np.concatenate(cols[k]) for k in cc.SURROGATE_NAMES},
    )
    summary = {name: _scheme_summary(results, s_i, job.optimise_dr, run.schemes[s_i].params, run.infos[name])
               for s_i, name in enumerate(names)}
    name = f"results/{new_public_id()}.npz"
    results.save(name)
    run.timings["save"] = time.monotonic() - t
    run.timings["total"] = time.monotonic() - t0
    old = job.results.name if job.results else ""
    finished = GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED, progress=1.0, results=name, summary=_jsonable(summary), timings=run.timings,
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
        **{f"{k}_mean": _nanmean(v[rows]) for k, v in results.metrics.items()},
        "params": dict(params),
        "info": info,
    }


def _nanmean(values: np.ndarray) -> float | None:
    """Mean over the samples that have the metric (None when none has it)."""
    have = values[np.isfinite(values)]
    return float(have.mean()) if len(have) else None


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
    are. Each entry: scheme, index, image, units, noise_seed, z, fields (results.measured_fields)."""
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
            for key, value in e["fields"].items():
                setattr(sample, key, value)
            sample.image.name = default_storage.save(f"samples/{sample.public_id}.png",
                                                     ContentFile(cc.to_png_bytes(e["image"])))
            written.append(sample.image.name)
            new.append(sample)
        existing = [s for s in new if s.pk is not None]  # rows written before without an image
        with transaction.atomic():
            Sample.objects.bulk_create([s for s in new if s.pk is None])
            Sample.objects.bulk_update(existing, ["units", "noise_seed", "z", *MEASURED_FIELDS, "image"])
    except BaseException:
        for name in written:  # nothing half-written
            default_storage.delete(name)
        raise
