"""Sample pools: draw samples of each scheme from a finished job, write their images, shuffle them together.

A pool is built by a task on the "default" queue (`launch_pool_build`), tracked by a PoolBuild row, or in the
calling process (`build_pool`, for the demo, scripts and tests). Either way nothing is left behind by a build that
does not finish: its PNGs go to a staging folder of its own under MEDIA_ROOT; the rows (new samples, the pool, its
items) are created in one transaction at the end, and the files are moved into place inside it. A failure or a
cancel removes the staging folder; a killed build's folder is removed, and its row failed, by the sweep
(`fail_stale_work`: the periodic task, and every admin list).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import check_quality
from ..errors import JobError, Stopped
from ..models import (
    ACTIVE_STATUSES,
    MEASURED_FIELDS,
    AttentionKind,
    GenerationJob,
    JobStatus,
    PoolBuild,
    PoolItem,
    Sample,
    SamplePool,
    new_public_id,
    stale_after,
)
from .common import message_of, pick_device
from .jobs import load_model
from .pool_requests import check_pool_request
from .remake import regenerate
from .results import Results
from .rows import beat, claim, fail, fail_stale_rows, send

log = logging.getLogger(__name__)

STAGING = "staging"


def staging_root() -> Path:
    return Path(settings.MEDIA_ROOT) / STAGING


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



# --- building ---------------------------------------------------------------------------------------------------


def build_pool(job: GenerationJob, *, per_scheme: int, seed: int = 0, name: str = "",
               attention_checks: int = 0, attention_kind: str = AttentionKind.RECONSTRUCTION,
               accept_spottable_checks: bool = False) -> SamplePool:
    """A pool of per_scheme samples of each scheme (plus attention checks: training images), shuffled together,
    built in this process. JobError when its checks can be spotted or its model collapsed, unless accepted."""
    staging = staging_root() / f"sync-{new_public_id()}"
    try:
        return _build(job, per_scheme=per_scheme, seed=seed, name=name, attention_checks=attention_checks,
                      attention_kind=attention_kind, staging=staging, accept=accept_spottable_checks)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def launch_pool_build(job: GenerationJob, *, per_scheme: int, seed: int = 0, name: str = "",
                      attention_checks: int = 0, attention_kind: str = AttentionKind.RECONSTRUCTION,
                      accept_spottable_checks: bool = False, user=None) -> PoolBuild:
    """A PoolBuild row for the request, queued on the "default" queue; JobError when the request is out of bounds."""
    from .. import attention

    job.refresh_from_db()
    check_pool_request(job, per_scheme=per_scheme, seed=seed, attention_checks=attention_checks)
    attention.split(attention_kind, attention_checks)  # an unknown kind is refused here
    build = PoolBuild.objects.create(job=job, per_scheme=per_scheme, seed=seed, name=name,
                                     attention_checks=attention_checks, attention_kind=attention_kind,
                                     accept_spottable_checks=accept_spottable_checks, created_by=user)
    send("build_pool_task", build)
    return build


def run_pool_build(build_id: int) -> None:
    """Build the pool a PoolBuild row asks for (on a worker); its outcome is written to the row."""
    build = claim(PoolBuild, build_id)
    if build is None:
        return
    staging = staging_root() / f"build-{build.pk}"
    shutil.rmtree(staging, ignore_errors=True)  # a killed attempt's files, when this is a redelivery

    def succeed(pool: SamplePool) -> None:
        done = PoolBuild.objects.filter(pk=build.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED, progress=1.0, pool=pool, finished_at=timezone.now(),
            heartbeat_at=timezone.now())
        if not done:
            raise Stopped  # cancelled at the last moment: the transaction is rolled back, nothing is kept

    try:
        _build(build.job, per_scheme=build.per_scheme, seed=build.seed, name=build.name,
               attention_checks=build.attention_checks, attention_kind=build.attention_kind, staging=staging,
               accept=build.accept_spottable_checks, progress=lambda f: beat(build, f),
               before_commit=succeed)
    except Stopped:
        log.info("pool build %s stopped: %s", build.pk, PoolBuild.objects.get(pk=build.pk).status)
    except Exception as exc:  # stored for the researcher; the traceback goes to the worker's log
        log.exception("pool build %s failed", build.pk)
        fail(build, message_of(exc))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build(job: GenerationJob, *, per_scheme: int, seed: int, name: str, attention_checks: int, attention_kind: str,
           staging: Path, accept: bool = False, progress: Callable[[float], None] = lambda _f: None,
           before_commit: Callable[[SamplePool], None] = lambda _p: None) -> SamplePool:
    from .. import attention

    job.refresh_from_db()
    check_pool_request(job, per_scheme=per_scheme, seed=seed, attention_checks=attention_checks)
    attention.split(attention_kind, attention_checks)  # an unknown kind fails before any work
    results = Results.load(job)
    rng = np.random.default_rng(seed)
    drawn = _draw(results, per_scheme, job.samples_per_scheme, rng)
    drawn_q = Q()
    for scheme, indices in drawn.items():
        drawn_q |= Q(scheme=scheme, index__in=indices.tolist())
    have = {(s.scheme, s.index) for s in Sample.objects.filter(drawn_q, job=job).exclude(image="")}
    progress(0.02)

    device = pick_device()
    staged, images = _sample_images(job, results, drawn, have, device, progress)
    made_checks, checks, check_png = _attention_checks(job, attention_checks, attention_kind, seed, device)
    progress(0.7)
    staged, files, generated_pngs = _stage_pngs(staging, staged, images, check_png, progress)
    quality = None
    if attention_checks:  # the gate: checks that cannot be spotted by look, from a model that has not collapsed
        quality = _check_quality(made_checks, generated_pngs, job, drawn_q, seed)
        quality.accepted = accept
        problem = check_quality.refusal(quality, attention_kind)
        if problem:
            raise JobError(problem)
    progress(0.95)
    pool_fields = dict(name=name or f"Pool of job {job.pk} (seed {seed})", per_scheme=per_scheme, seed=seed,
                       attention_kind=attention_kind, check_quality=quality.as_dict() if quality else {})
    return _commit(job, pool_fields, staged, files, checks, drawn_q, rng, staging, before_commit)


def _sample_images(job: GenerationJob, results: Results, drawn: dict[str, np.ndarray], have: set[tuple[str, int]],
                   device, progress: Callable[[float], None]) -> tuple[list[Sample], dict[tuple[str, int], Any]]:
    """1. The images: kept in the results file, else made again (this process's device, not the job's); a Sample
    (unsaved) for each drawn sample without a stored image, and its image by (scheme, index)."""
    import torch

    staged: list[Sample] = []
    images: dict[tuple[str, int], Any] = {}
    model = profile = None
    for k, (scheme, indices) in enumerate(drawn.items()):
        missing = np.array([i for i in indices.tolist() if (scheme, i) not in have], dtype=np.int64)
        if len(missing):
            s_i = results.schemes.index(scheme)
            if results.reserve is not None and missing.max() < results.reserve.shape[1]:
                made = {int(i): torch.from_numpy(results.reserve[s_i, i]).float().div(255) for i in missing}
            else:
                if model is None:
                    model, profile = load_model(job, device)
                made = regenerate(model, profile, job, scheme, missing, device)
            for i, row in zip(missing.tolist(), results.rows(scheme, missing).tolist(), strict=True):
                seed_i = int(results.noise_seed[row])
                sample = Sample(job=job, scheme=scheme, index=i, units=[int(u) for u in results.units[row] if u >= 0],
                                noise_seed=seed_i if seed_i >= 0 else None, z=[float(v) for v in results.z[row]],
                                **results.sample_fields(row))
                sample.image.name = f"samples/{sample.public_id}.png"
                images[(scheme, i)] = made[i]
                staged.append(sample)
        progress(0.02 + 0.6 * (k + 1) / len(drawn))
    return staged, images


def _attention_checks(job: GenerationJob, attention_checks: int, attention_kind: str, seed: int, device):
    """2. Attention checks of the pool's kind (generation/attention.py), written like the pool's images: what made
    them, their PoolItems (unsaved) and each one's PNG by file name."""
    from .. import attention

    checks: list[PoolItem] = []
    check_png: dict[str, bytes] = {}
    made_checks = attention.Checks()
    if attention_checks:
        made_checks = attention.make_checks(job, attention_checks, kind=attention_kind, seed=seed, device=device)
        pngs = made_checks.pngs
        if len(pngs) < attention_checks:
            raise JobError(f"The data set gives only {len(pngs)} images for attention checks: ask for at most that "
                           f"many, not {attention_checks}.")
        for png, check_kind in zip(pngs, made_checks.kinds, strict=True):
            item = PoolItem(position=0, check_kind=check_kind)
            item.attention_image.name = f"pool-items/{item.public_id}.png"
            check_png[item.attention_image.name] = png
            checks.append(item)
    return made_checks, checks, check_png


def _stage_pngs(staging: Path, staged: list[Sample], images: dict[tuple[str, int], Any], check_png: dict[str, bytes],
                progress: Callable[[float], None]) -> tuple[list[Sample], list[str], list[bytes]]:
    """3. The PNGs, into the staging folder, in shuffled order (so neither file times nor ids follow the scheme): the
    samples in that order, the files staged, the generated images' PNGs."""
    import creative_core as cc

    order = np.random.default_rng().permutation(len(staged)).tolist()
    staged = [staged[k] for k in order]
    files: list[str] = []
    generated_pngs: list[bytes] = []
    for n_done, sample in enumerate(staged, 1):
        png = cc.to_png_bytes(images.pop((sample.scheme, sample.index)))
        _stage(staging, sample.image.name, png)
        generated_pngs.append(png)
        files.append(sample.image.name)
        if n_done % 500 == 0:
            progress(0.7 + 0.25 * n_done / len(staged))
    for file_name, png in check_png.items():
        _stage(staging, file_name, png)
        files.append(file_name)
    return staged, files, generated_pngs


def _commit(job: GenerationJob, pool_fields: dict, staged: list[Sample], files: list[str], checks: list[PoolItem],
            drawn_q: Q, rng: np.random.Generator, staging: Path,
            before_commit: Callable[[SamplePool], None]) -> SamplePool:
    """4. One transaction: the rows (the pool with `pool_fields`, its items in `rng`'s order), then the files moved
    into place; on any failure the moved files go again."""
    moved: list[Path] = []
    try:
        with transaction.atomic():
            GenerationJob.objects.select_for_update().filter(pk=job.pk).first()  # one pool build of a job at a time
            now = {(s.scheme, s.index): s for s in Sample.objects.filter(drawn_q, job=job)}
            # Where each staged file goes (None: nowhere, another build wrote that sample meanwhile).
            place: dict[str, str | None] = {name: name for name in files}
            create, update = [], []
            for sample in staged:
                existing = now.get((sample.scheme, sample.index))
                if existing is None:
                    create.append(sample)
                elif existing.image:
                    place[sample.image.name] = None
                else:  # a row kept without its image: it gets this one
                    staged_name = sample.image.name
                    sample.pk, sample.public_id = existing.pk, existing.public_id
                    sample.image.name = place[staged_name] = f"samples/{existing.public_id}.png"
                    update.append(sample)
            Sample.objects.bulk_create(create)
            Sample.objects.bulk_update(update, ["units", "noise_seed", "z", *MEASURED_FIELDS, "image"])
            samples = list(Sample.objects.filter(drawn_q, job=job))
            pool = SamplePool.objects.create(job=job, **pool_fields)
            entries: list[Sample | PoolItem] = [*samples, *checks]
            items = []
            for position, k in enumerate(rng.permutation(len(entries)).tolist()):
                entry = entries[k]
                if isinstance(entry, PoolItem):
                    entry.pool, entry.position = pool, position
                    items.append(entry)
                else:
                    items.append(PoolItem(pool=pool, position=position, sample=entry))
            PoolItem.objects.bulk_create(items)
            before_commit(pool)
            media = Path(settings.MEDIA_ROOT)
            for staged_name, target_name in place.items():
                if target_name is None:
                    continue
                target = media / target_name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / staged_name, target)
                moved.append(target)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    return pool


def _check_quality(checks, generated_pngs: list[bytes], job: GenerationJob, drawn_q: Q,
                   seed: int) -> check_quality.CheckQuality:
    """The pool's check quality: its checks' statistics against those of its generated images (the ones made now,
    and the ones whose files another pool wrote before), at most check_quality.MAX_GENERATED of them."""
    rng = np.random.default_rng(seed)
    made = [check_quality.png_statistics(p) for p in generated_pngs]
    kept = list(Sample.objects.filter(drawn_q, job=job).exclude(image="").values_list("image", flat=True))
    room = max(0, check_quality.MAX_GENERATED - len(made))
    if len(kept) > room:
        kept = [kept[k] for k in sorted(rng.choice(len(kept), room, replace=False).tolist())]
    media = Path(settings.MEDIA_ROOT)
    made += [check_quality.png_statistics((media / name).read_bytes()) for name in kept]
    if len(made) > check_quality.MAX_GENERATED:
        made = [made[k] for k in sorted(rng.choice(len(made), check_quality.MAX_GENERATED, replace=False).tolist())]
    return check_quality.measure(np.array(checks.statistics).reshape(-1, len(check_quality.STATISTICS)),
                                 checks.kinds, np.array(made).reshape(-1, len(check_quality.STATISTICS)),
                                 spread=checks.spread, seed=seed)


def _stage(staging: Path, name: str, data: bytes) -> None:
    path = staging / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- the sweep --------------------------------------------------------------------------------------------------


def sweep_staging() -> int:
    """Remove staging folders no live build owns: a build's whose row is no longer queued or running, and a build in
    a process (build_pool) that has not touched its folder for GENERATION_STALE_AFTER. Returns how many."""
    root = staging_root()
    if not root.is_dir():
        return 0
    live = {f"build-{pk}" for pk in PoolBuild.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True)}
    removed = 0
    for folder in root.iterdir():
        if folder.name in live:
            continue
        if not folder.name.startswith("build-") and time.time() - folder.stat().st_mtime < stale_after().total_seconds():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def fail_stale_work() -> int:
    """The sweep: fail running rows (models, jobs, pool builds) whose worker stopped writing heartbeats, and remove
    the staging folders of pool builds that will not finish. Returns how many rows it failed."""
    failed = fail_stale_rows()
    sweep_staging()
    return failed
