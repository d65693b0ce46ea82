"""Image files, their names and ids say nothing about the scheme that made them."""

from __future__ import annotations

import struct

import pytest

from generation import services
from generation.models import JobStatus, Sample
from tests.generation.conftest import SCHEMES, make_job

pytestmark = pytest.mark.django_db

CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def chunks(data: bytes) -> list[bytes]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return out


@pytest.fixture
def pool(ready_model):
    job = make_job(ready_model, n=40, optimise_dr=False)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return services.build_pool(job, per_scheme=10, seed=5, attention_checks=3, accept_spottable_checks=True)


def test_it_writes_pngs_without_metadata(pool):
    for item in pool.items.all():
        with item.image_file.open("rb") as fh:
            data = fh.read()
        assert set(chunks(data)) <= CRITICAL, chunks(data)
        for word in (*SCHEMES, "low", "noisy", "flip", "scheme"):
            assert word.encode() not in data


def test_it_names_files_by_opaque_ids_alone(pool):
    for item in pool.items.select_related("sample"):
        name = item.image_file.name
        public = item.sample.public_id if item.sample else item.public_id
        assert name.rsplit("/", 1)[-1] == f"{public}.png"
        assert "/" not in name.rsplit("/", 1)[0]  # one flat folder for every scheme
        assert not any(word in name for word in SCHEMES)
        assert item.public_id != public or item.is_attention_check  # the pool's id is not the file's either
    folders = {i.image_file.name.rsplit("/", 1)[0] for i in pool.items.filter(sample__isnull=False)}
    assert folders == {"samples"}


def test_it_orders_ids_and_rows_independently_of_the_scheme(pool):
    samples = list(Sample.objects.filter(job=pool.job))
    for key in (lambda s: s.pk, lambda s: s.public_id):
        order = [s.scheme for s in sorted(samples, key=key)]
        changes = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
        assert changes > 8, order  # written scheme by scheme, 40 samples would change 3 times
    items = [i.sample.scheme if i.sample else "check" for i in pool.items.order_by("public_id").select_related("sample")]
    assert sum(1 for a, b in zip(items, items[1:], strict=False) if a != b) > 8
