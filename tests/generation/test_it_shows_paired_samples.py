"""The job page pairs each regular sample with the same latent decoded under low-active (the paper's Figure 2D)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import creative_core as cc
from generation import services
from generation.services import jobs
from tests.generation.conftest import make_job

pytestmark = pytest.mark.django_db


def test_each_pair_is_one_latent_decoded_two_ways(ready_model, admin_client):
    job = make_job(ready_model, n=20, optimise_dr=False, schemes={"regular": {}, "low_active": {}})
    services.run_job(job.pk)
    page = admin_client.get(f"/admin/generation/generationjob/{job.pk}/change/").content.decode()
    url = f"/admin/generation/generationjob/{job.pk}/pairs/regular/low_active.png"
    assert url in page
    got = admin_client.get(url)
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    model, profile = jobs.load_model(job, "cpu")
    regular = jobs.regenerate(model, profile, job, "regular", range(16), "cpu")
    low = jobs.regenerate(model, profile, job, "low_active", range(16), "cpu")
    expected = cc.image_grid(torch.stack([img for i in range(16) for img in (regular[i], low[i])]), nrow=8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(got.content))), np.asarray(expected))
    # every pair differs: low-active switched units on for each latent
    assert all(not torch.equal(regular[i], low[i]) for i in range(16))


def test_a_scheme_the_job_lacks_is_refused(ready_model, admin_client):
    job = make_job(ready_model, n=5, optimise_dr=False, schemes={"regular": {}, "noisy": {}})
    services.run_job(job.pk)
    got = admin_client.get(f"/admin/generation/generationjob/{job.pk}/pairs/regular/low_active.png")
    assert got.status_code == 409 and "no scheme 'low_active'" in got.content.decode()
    page = admin_client.get(f"/admin/generation/generationjob/{job.pk}/change/").content.decode()
    assert "/pairs/" not in page
