"""Making a measured job's images again: generation is deterministic per (seed, index), so a pooled image, a preview
or a paired grid is remade from the scheme exactly as the job measured it, never stored for every sample."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from ..models import GenerationJob
from .common import batch_size


def data_of(job: GenerationJob) -> dict:
    """Where a scheme that needs the model's training images (interpolation) finds them."""
    model = job.trained_model
    return {"dataset": model.dataset_name, "root": settings.DATA_ROOT, "limit": model.train_limit}


# What random flip and low-active did before `candidates` was one of their parameters (then an option, absent
# from the parameters a job stored): a job measured then is made again as it was measured.
PARAMETERS_BEFORE_STORED = {"random_flip": {"candidates": "off_for_sample"}, "low_active": {"candidates": "band"}}


def measured_scheme(job: GenerationJob, name: str):
    """The scheme exactly as the job measured it: the parameters it resolved when it ran (its summary), so that
    changing a library default never changes the images of a job already measured; a job not run yet, its own."""
    import creative_core as cc

    resolved = ((job.summary or {}).get(name) or {}).get("params") if job.results else None
    if resolved is None:
        return cc.make_scheme(name, **(job.schemes.get(name) or {}))
    return cc.make_scheme(name, **{**PARAMETERS_BEFORE_STORED.get(name, {}), **resolved})


def regenerate(model, profile, job: GenerationJob, scheme: str, indices: Iterable[int], device: str):
    """{index: image} for the given samples: generation is deterministic per (seed, index), so a pooled image is
    made again rather than stored for all samples. Consecutive indices go in one call."""
    import creative_core as cc

    sch = measured_scheme(job, scheme)
    idx = sorted(set(int(i) for i in indices))
    images: dict[int, Any] = {}
    run_start = 0
    for k in range(1, len(idx) + 1):
        if k == len(idx) or idx[k] != idx[k - 1] + 1:
            first = idx[run_start]
            out = cc.generate(model, profile, sch, idx[k - 1] - first + 1, seed=job.seed, batch_size=batch_size(),
                              device=device, progress=False, start=first, **data_of(job))
            for j in range(len(out)):
                images[first + j] = out.images[j]
            run_start = k
    return images


def ordered_summary(job: GenerationJob) -> dict[str, dict]:
    """The job's per-scheme summary in the library's order of schemes (the database keeps JSON keys in its own)."""
    import creative_core as cc

    summary = {k: v for k, v in (job.summary or {}).items() if isinstance(v, dict)}
    rank = {name: i for i, name in enumerate(cc.ALL_SCHEME_NAMES)}
    return {k: summary[k] for k in sorted(summary, key=lambda k: (rank.get(k, len(rank)), k))}
