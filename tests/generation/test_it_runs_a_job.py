"""run_job generates and measures every sample, compactly, and writes no image unless asked."""

from __future__ import annotations

import numpy as np
import pytest

from generation import services
from generation.models import GenerationJob, JobStatus, Sample
from generation.services import jobs
from tests.generation.conftest import SCHEMES, make_job

pytestmark = pytest.mark.django_db


def test_it_measures_every_sample_into_one_results_file(ready_model):
    job = make_job(ready_model, n=30)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0
    assert job.device in ("cpu", "cuda")
    results = services.Results.load(job)
    assert results.schemes == list(SCHEMES)
    assert len(results.index) == 4 * 30
    assert np.isfinite(results.dr_amortised).all()
    assert np.isfinite(results.dr_optimised).all()
    # Summary per scheme matches the stored values.
    for i, scheme in enumerate(SCHEMES):
        rows = results.scheme == i
        assert job.summary[scheme]["n"] == 30
        assert job.summary[scheme]["dr_amortised_mean"] == pytest.approx(float(results.dr_amortised[rows].mean()), rel=1e-5)
    # Switching units on leaves a trace: low-active samples have units, regular ones none.
    assert (results.units[results.scheme == 0] == -1).all()
    assert (results.units[results.scheme == 3] >= 0).any()
    assert Sample.objects.filter(job=job).count() == 0
    assert set(services.job_scheme_dr(job)) == set(SCHEMES)


def test_it_writes_all_images_when_asked(ready_model):
    job = make_job(ready_model, n=5, write_all_images=True, optimise_dr=False)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    samples = Sample.objects.filter(job=job)
    assert samples.count() == 20
    assert all(s.image and s.dr_optimised is None and s.dr_amortised is not None for s in samples)


def test_it_gives_the_same_samples_for_the_same_seed(ready_model):
    a, b = make_job(ready_model, n=12, optimise_dr=False), make_job(ready_model, n=12, optimise_dr=False)
    services.run_job(a.pk)
    services.run_job(b.pk)
    ra, rb = (services.Results.load(GenerationJob.objects.get(pk=j.pk)) for j in (a, b))
    assert np.array_equal(ra.z, rb.z)
    assert np.allclose(ra.dr_amortised, rb.dr_amortised)


def test_it_runs_the_interpolation_baseline(ready_model):
    job = make_job(ready_model, n=12, optimise_dr=False, schemes={"regular": {}, "interpolation": {}})
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    results = services.Results.load(job)
    assert results.schemes == ["regular", "interpolation"]
    inter = results.scheme == 1
    assert inter.sum() == 12 and np.isfinite(results.dr_amortised[inter]).all()
    # Its latents are points between training images, not the seed's standard-normal draws.
    assert not np.allclose(results.z[inter], results.z[~inter])
    # A pool made past the kept images makes them again from (seed, index), from the same training images.
    model, profile = jobs.load_model(job, "cpu")
    again = jobs.regenerate(model, profile, job, "interpolation", range(12), "cpu")
    kept = results.reserve[1].astype(np.float32) / 255
    assert np.abs(np.stack([again[i].numpy() for i in range(12)]) - kept).max() <= 1 / 255 + 1e-6


def test_it_finds_the_true_minimum_for_a_regular_sample(ready_model):
    """A regular sample is decode(z) for its own z, so min over z of ||x - decode(z)|| is 0: the optimised D_r,
    started from the generating latent as well as the encoder mean, must find it (a loose bound reports the
    encoder's start instead)."""
    job = make_job(ready_model, n=20, schemes={"regular": {}, "low_active": {}})
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    results = services.Results.load(job)
    regular = results.scheme == results.schemes.index("regular")
    assert float(results.dr_optimised[regular].max()) <= 0.005
    # and never above the amortised value for any sample
    assert (results.dr_optimised <= results.dr_amortised + 1e-5).all()
