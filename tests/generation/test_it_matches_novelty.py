"""A matched-novelty job: random flip writes the level at which its mean D_r equals low-active's."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from generation import services
from generation.models import JobStatus
from generation.services import jobs, matching
from tests.generation.conftest import make_job

pytestmark = pytest.mark.django_db


def test_random_flip_reaches_low_actives_novelty(ready_model, monkeypatch):
    # found on the first 30 samples, then held over all 90 the job generates
    monkeypatch.setattr(matching, "MATCH_CALIBRATION", 30)
    job = make_job(ready_model, n=90, optimise_dr=False, match_novelty=True,
                   schemes={"regular": {}, "random_flip": {}, "low_active": {}})
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    la, rf = job.summary["low_active"]["dr_amortised_mean"], job.summary["random_flip"]["dr_amortised_mean"]
    assert abs(rf - la) <= 0.05 * la
    level = job.matching["schemes"]["random_flip"]["level"]
    assert job.matching["calibration_samples"] == 30
    # the level is what random flip wrote, so its images can be made again from the stored parameters
    assert job.summary["random_flip"]["params"]["value"] == pytest.approx(level)
    assert jobs.measured_scheme(job, "random_flip").params["value"] == pytest.approx(level)


def test_an_unmatched_job_writes_the_default_level(ready_model):
    job = make_job(ready_model, n=20, optimise_dr=False, schemes={"random_flip": {}, "low_active": {}})
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.summary["random_flip"]["params"]["value"] == "high_level" and job.matching == {}


def test_matching_needs_both_switching_schemes(ready_model):
    job = make_job(ready_model, n=10, match_novelty=True, schemes={"regular": {}, "random_flip": {}})
    with pytest.raises(ValidationError, match="keep both schemes"):
        job.full_clean()


def test_the_job_and_pool_pages_state_the_matching(ready_model, monkeypatch, admin_client):
    monkeypatch.setattr(matching, "MATCH_CALIBRATION", 20)
    job = make_job(ready_model, n=20, optimise_dr=False, match_novelty=True,
                   schemes={"random_flip": {}, "low_active": {}})
    services.run_job(job.pk)
    job.refresh_from_db()
    page = admin_client.get(f"/admin/generation/generationjob/{job.pk}/change/").content.decode()
    level = job.matching["schemes"]["random_flip"]["level"]
    assert f"random flip writes level {level:.3f}" in page
    assert "to equal low-active&#x27;s mean amortised D_r" in page
