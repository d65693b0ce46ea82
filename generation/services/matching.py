"""Matched-novelty jobs: random flip writes the level at which its mean D_r equals low-active's."""

from __future__ import annotations

from ..errors import JobError
from ..models import GenerationJob
from .common import batch_size

MATCH_CALIBRATION = 1000  # samples the matched level is found on (the job's first ones, the same latents)


def matched_schemes(job: GenerationJob, model, profile, names: list[str], schemes: list) -> list:
    """The job's schemes with random flip writing the level at which its mean amortised D_r equals low-active's
    (on the job's first samples); the level and both D_r are stored on the job (`matching`)."""
    import creative_core as cc
    from creative_core.levels import match_level, mean_dr

    if not {"low_active", "random_flip"} <= set(names):
        raise JobError("Matched novelty needs both low-active and random flip in the job.")
    n = min(job.samples_per_scheme, MATCH_CALIBRATION)
    la = schemes[names.index("low_active")]
    target = mean_dr(model, profile, "low_active", dict(la.params), n, job.seed, batch_size())
    i = names.index("random_flip")
    try:
        level, got = match_level(model, profile, "random_flip", target, params=dict(schemes[i].params), samples=n,
                                 seed=job.seed, rel_tol=0.01, batch_size=batch_size())
    except ValueError as exc:
        raise JobError(f"Matched novelty: {exc}.") from exc
    schemes = list(schemes)
    schemes[i] = cc.make_scheme("random_flip", **{**schemes[i].params, "value": level})
    matching = {"target_scheme": "low_active", "target_dr": target, "calibration_samples": n,
                "schemes": {"random_flip": {"level": level, "dr": got}}}
    GenerationJob.objects.filter(pk=job.pk).update(matching=matching)
    job.matching = matching
    return schemes
