"""What a researcher sees of a job: its mean D_r per scheme, and PNG grids of its samples made again from the model
(they name the scheme, so researchers only)."""

from __future__ import annotations

import io

import numpy as np

from ..errors import JobError
from ..models import GenerationJob
from .common import pick_device
from .jobs import check_runnable, load_model
from .remake import ordered_summary, regenerate


def job_scheme_dr(job: GenerationJob) -> dict[str, dict]:
    """Per scheme, in the library's order: n and mean D_r (amortised, optimised) over all the job's samples."""
    return {
        scheme: {"n": v.get("n"), "dr_amortised_mean": v.get("dr_amortised_mean"),
                 "dr_optimised_mean": v.get("dr_optimised_mean")}
        for scheme, v in ordered_summary(job).items()
        if "dr_amortised_mean" in v
    }


def _first_samples(job: GenerationJob, schemes: tuple[str, ...], count: int) -> tuple[list[dict], int]:
    """The first `count` images (made again) of each scheme, after checking the job can be regenerated."""
    for scheme in schemes:
        if scheme not in job.schemes:
            raise JobError(f"{job} has no scheme {scheme!r}.")
    check_runnable(job)
    count = max(1, min(count, job.samples_per_scheme))
    device = pick_device()
    model, profile = load_model(job, device)
    return [regenerate(model, profile, job, scheme, range(count), device) for scheme in schemes], count


def _png(images: list, nrow: int) -> bytes:
    import torch

    import creative_core as cc

    buf = io.BytesIO()
    cc.image_grid(torch.stack(images), nrow=nrow).save(buf, format="PNG")
    return buf.getvalue()


def paired_grid(job: GenerationJob, left: str = "regular", right: str = "low_active", count: int = 16) -> bytes:
    """A PNG of `count` pairs, as in the paper's Figure 2D: each sample decoded regularly beside the same latent
    decoded under `right` (the schemes share the latents of a seed), four pairs to a row (researchers only)."""
    (a, b), count = _first_samples(job, (left, right), count)
    return _png([img for i in range(count) for img in (a[i], b[i])], nrow=2 * min(4, count))


def preview_grid(job: GenerationJob, scheme: str, count: int = 64) -> bytes:
    """A PNG grid of the first `count` samples of one scheme (researchers only: it names the scheme)."""
    (images,), count = _first_samples(job, (scheme,), count)
    return _png([images[i] for i in range(count)], nrow=int(np.ceil(np.sqrt(count))))
