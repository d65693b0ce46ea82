"""A researcher watching a job's bar sees it move in every phase: the scorer's setup, generating, both D_r and the
surrogate metrics, then writing the results. Each phase is watched from its start: the progress the database holds
when a phase begins must be above what it held when the one before began."""

from __future__ import annotations

import pytest

import creative_core as cc
from generation import services
from generation.models import GenerationJob, JobStatus
from generation.services.results import Results
from tests.generation.conftest import make_job


def progress_of(job: GenerationJob) -> float:
    return GenerationJob.objects.values_list("progress", flat=True).get(pk=job.pk)


@pytest.fixture
def watched(monkeypatch):
    """(job holder, [(phase, progress when the phase began)]): the library's steps, wrapped to read the row first."""
    seen: list[tuple[str, float]] = []
    holder: dict[str, GenerationJob] = {}

    def watch(owner, attr: str, phase: str) -> None:
        real = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            seen.append((phase, progress_of(holder["job"])))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, attr, wrapper)

    watch(cc.SurrogateScorer, "__init__", "setup")
    watch(cc, "generate", "generate")
    watch(cc, "dr_amortised", "dr_amortised")
    watch(cc, "dr_optimised", "dr_optimised")
    watch(cc.SurrogateScorer, "score", "surrogates")
    watch(Results, "save", "save")
    return holder, seen


def test_it_moves_the_bar_in_every_phase_of_a_job(ready_model, watched, settings):
    settings.GENERATION_BATCH_SIZE = 20  # two batches of each scheme
    holder, seen = watched
    job = holder["job"] = make_job(ready_model, n=40, optimise_steps=5)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0
    phases = [phase for phase, _ in seen]
    assert phases[0] == "setup" and phases[-1] == "save"
    assert {"generate", "dr_amortised", "dr_optimised", "surrogates"} <= set(phases)
    assert phases.count("generate") == 8  # 4 schemes x 2 batches
    stuck = [(before, after) for before, after in zip(seen, seen[1:], strict=False) if after[1] <= before[1]]
    assert not stuck, f"the bar did not move from the start of one phase to the next: {stuck}"


def test_it_moves_the_bar_while_writing_every_image(ready_model, watched, settings, monkeypatch):
    settings.GENERATION_BATCH_SIZE = 20
    holder, seen = watched
    from generation.services import jobs

    real = jobs._write_samples

    def write(job, entries):
        seen.append(("write_images", progress_of(job)))
        return real(job, entries)

    monkeypatch.setattr(jobs, "_write_samples", write)
    job = holder["job"] = make_job(ready_model, n=40, optimise_dr=False, write_all_images=True)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert [p for p, _ in seen].count("write_images") == 2
    stuck = [(before, after) for before, after in zip(seen, seen[1:], strict=False) if after[1] <= before[1]]
    assert not stuck, f"the bar did not move from the start of one phase to the next: {stuck}"
