"""build_pool draws samples per scheme, writes their images and rows, and interleaves the schemes."""

from __future__ import annotations

import numpy as np
import pytest

from generation import services
from generation.models import GenerationJob, PoolItem, Sample
from tests.generation.conftest import SCHEMES, make_job, run_finished_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_job(ready_model) -> GenerationJob:
    return run_finished_job(ready_model, n=40)


def test_it_draws_per_scheme_samples_with_their_provenance(finished_job):
    pool = services.build_pool(finished_job, per_scheme=6, seed=3, attention_checks=2, accept_spottable_checks=True)
    items = list(pool.items.select_related("sample"))
    assert len(items) == 4 * 6 + 2
    assert sorted(i.position for i in items) == list(range(26))
    assert sum(i.is_attention_check for i in items) == 2
    assert all(i.image_file and i.image_file.storage.exists(i.image_file.name) for i in items)
    per_scheme = {s: [i for i in items if i.sample and i.sample.scheme == s] for s in SCHEMES}
    assert all(len(v) == 6 for v in per_scheme.values())
    # Disjoint sample indices across schemes (schemes share z per index).
    indices = [i.sample.index for i in items if i.sample]
    assert len(set(indices)) == len(indices)
    # Provenance comes from the results file.
    results = services.Results.load(finished_job)
    sample = per_scheme["low_active"][0].sample
    row = results.rows("low_active", np.array([sample.index]))[0]
    assert sample.dr_amortised == pytest.approx(float(results.dr_amortised[row]))
    assert sample.units == [int(u) for u in results.units[row] if u >= 0] and sample.units
    assert len(sample.z) == results.z.shape[1]


def test_it_interleaves_the_schemes(finished_job):
    pool = services.build_pool(finished_job, per_scheme=10, seed=0)
    order = [i.sample.scheme for i in pool.items.order_by("position").select_related("sample")]
    runs = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert runs > 10  # 4 blocks of 10 would give 3 changes


def test_it_reuses_samples_already_written(finished_job):
    first = services.build_pool(finished_job, per_scheme=5, seed=7)
    count = Sample.objects.filter(job=finished_job).count()
    second = services.build_pool(finished_job, per_scheme=5, seed=7)
    assert Sample.objects.filter(job=finished_job).count() == count == 20
    ids = lambda p: sorted(PoolItem.objects.filter(pool=p).values_list("sample__public_id", flat=True))  # noqa: E731
    assert ids(first) == ids(second)


def test_it_regenerates_the_image_that_was_measured(finished_job, ready_model):
    """A pooled image is made again from (seed, index); its D_r must be the one measured in the job."""
    import creative_core as cc

    pool = services.build_pool(finished_job, per_scheme=3, seed=1)
    model = cc.load_checkpoint(ready_model.checkpoint.path, device="cpu").model
    from PIL import Image

    for item in pool.items.select_related("sample"):
        with item.sample.image.open("rb") as fh:
            pixels = np.asarray(Image.open(fh).convert("L"), dtype=np.float32) / 255.0
        import torch

        dr = float(cc.dr_amortised(model, torch.from_numpy(pixels)[None, None], device="cpu")[0])
        assert dr == pytest.approx(item.sample.dr_amortised, abs=0.05)  # PNG rounding to 8 bits


def test_it_refuses_a_pool_larger_than_the_job(finished_job):
    with pytest.raises(services.JobError, match="between 1 and 40"):
        services.build_pool(finished_job, per_scheme=41)
    assert finished_job.pools.count() == 0


def test_it_builds_a_pool_without_the_model_from_kept_images(finished_job, ready_model):
    from pathlib import Path

    Path(ready_model.checkpoint.path).unlink()  # kept images suffice: nothing is made again
    pool = services.build_pool(finished_job, per_scheme=4, seed=2)
    assert pool.items.count() == 16


@pytest.mark.parametrize("reserve", [0, 8])
def test_it_makes_images_again_beyond_the_kept_ones(ready_model, settings, reserve):
    """Kept and regenerated images are the same pictures: the PNG bytes agree."""
    settings.GENERATION_POOL_RESERVE = reserve
    job = make_job(ready_model, n=40, optimise_dr=False)
    services.run_job(job.pk)
    job.refresh_from_db()
    pool = services.build_pool(job, per_scheme=5, seed=4)
    settings.GENERATION_POOL_RESERVE = 40
    again = make_job(ready_model, n=40, optimise_dr=False)
    services.run_job(again.pk)
    again.refresh_from_db()
    kept = services.Results.load(again).reserve
    for item in pool.items.select_related("sample"):
        s_i = list(SCHEMES).index(item.sample.scheme)
        from PIL import Image

        with item.sample.image.open("rb") as fh:
            pixels = np.asarray(Image.open(fh))
        assert np.array_equal(pixels, kept[s_i, item.sample.index, 0])
