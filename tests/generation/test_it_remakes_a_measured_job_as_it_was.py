"""A pooled image is made again from (seed, index) with the scheme as the job measured it: a change of the
library's defaults never changes the images of a job already measured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generation import services
from generation.models import GenerationJob
from generation.services.jobs import load_model, measured_scheme, regenerate
from tests.generation.conftest import run_finished_job

pytestmark = pytest.mark.django_db

FIRST_CHOICES = {"random_flip": {"value": "unit_max", "candidates": "off_for_sample"},
                 "low_active": {"value": "unit_max", "candidates": "band"}}


def _as_measured_before_candidates_were_stored(job: GenerationJob) -> None:
    """What a job run before `candidates` was a parameter holds: {} as its schemes and no candidates in the
    parameters it resolved."""
    summary = dict(job.summary)
    for name in FIRST_CHOICES:
        params = dict(summary[name]["params"])
        params.pop("candidates")
        summary[name] = {**summary[name], "params": params}
    GenerationJob.objects.filter(pk=job.pk).update(summary=summary, schemes={name: {} for name in job.schemes})
    job.refresh_from_db()


def test_an_old_job_is_remade_with_the_choices_it_ran_with(ready_model):
    import creative_core as cc

    job = run_finished_job(ready_model, n=8, schemes={"regular": {}, **FIRST_CHOICES})
    _as_measured_before_candidates_were_stored(job)
    results = services.Results.load(job)
    model, profile = load_model(job, "cpu")
    for name, params in FIRST_CHOICES.items():
        assert measured_scheme(job, name).params["candidates"] == params["candidates"]
        assert measured_scheme(job, name).params["value"] == "unit_max"
        made = regenerate(model, profile, job, name, range(8), "cpu")
        kept = torch.from_numpy(results.reserve[results.schemes.index(name), :8]).float().div(255)
        again = torch.stack([made[i] for i in range(8)]).clamp(0, 1)
        assert torch.allclose(again, kept, atol=1 / 255 + 1e-6), name  # the images the job measured
        # the library's defaults now would make other images: the job's own choices are what keeps them
        now = cc.generate(model, profile, cc.make_scheme(name), 8, seed=job.seed, device="cpu", progress=False)
        assert not torch.allclose(now.images.clamp(0, 1), kept, atol=1 / 255 + 1e-6), name


def test_a_new_job_runs_the_defaults_and_remakes_them(ready_model):
    import creative_core as cc

    job = run_finished_job(ready_model, n=6)
    for name in ("random_flip", "low_active"):
        resolved = job.summary[name]["params"]
        assert {k: resolved[k] for k in ("value", "candidates")} == {
            k: cc.scheme_defaults(name)[k] for k in ("value", "candidates")}
    model, profile = load_model(job, "cpu")
    results = services.Results.load(job)
    made = regenerate(model, profile, job, "low_active", range(6), "cpu")
    kept = results.reserve[results.schemes.index("low_active"), :6].astype(np.float32) / 255
    assert np.allclose(torch.stack([made[i] for i in range(6)]).clamp(0, 1).numpy(), kept, atol=1 / 255 + 1e-6)
