"""Every image an annotator can receive from a pool has one byte length per (width, height, mode), inline and by URL.

A compressed PNG's length follows its content: over a 410-image pool, training images used as attention checks
were 182-337 bytes against 423-554 for generated ones (a 400-byte threshold told every check apart), and length
alone separated low-active from regular samples (AUC 0.74). Nothing but the pixels may differ.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict

import pytest
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from annotation.models import Campaign, Priming
from generation import services
from generation.models import AttentionKind, GenerationJob
from tests.generation.conftest import run_finished_job

pytestmark = pytest.mark.django_db
PREFIX = "data:image/png;base64,"


@pytest.fixture
def finished_job(ready_model) -> GenerationJob:
    return run_finished_job(ready_model, n=40, optimise_dr=False)


def lengths_by_shape(images: list[bytes]) -> dict[tuple, set[int]]:
    out: dict[tuple, set[int]] = defaultdict(set)
    for data in images:
        with Image.open(io.BytesIO(data)) as im:
            out[(im.width, im.height, im.mode)].add(len(data))
    return dict(out)


def everything_an_annotator_receives(pool, annotator) -> tuple[list[bytes], list[bytes]]:
    """(inline data URLs, images by URL) of every item of the pool, labelled one after the other."""
    campaign = Campaign.objects.create(name="lengths", pool=pool, annotators_per_image=1, priming_count=1)
    campaign.annotators.add(annotator)
    Priming.objects.create(campaign=campaign, annotator=annotator)
    client = APIClient()
    client.force_login(annotator)
    inline, served = [], []
    answer = client.post(reverse("annotation_api:next", args=[campaign.pk])).json()
    while not answer["done"]:
        item = answer["item"]
        inline.append(base64.b64decode(item["data_url"].removeprefix(PREFIX)))
        response = client.get(item["image"])
        assert response.status_code == 200
        served.append(response.content)
        answer = client.post(reverse("annotation_api:submit", args=[campaign.pk]),
                             {"item": item["id"], "value": "not_novel", "next": True}, format="json").json()
    assert len(inline) == pool.items.count()
    return inline, served


@pytest.mark.parametrize("kind", [AttentionKind.RAW, AttentionKind.RECONSTRUCTION, AttentionKind.BOTH])
def test_it_gives_every_image_of_a_pool_one_length(finished_job, annotator, kind):
    pool = services.build_pool(finished_job, per_scheme=10, seed=2, attention_checks=8, attention_kind=kind,
                               accept_spottable_checks=True)
    stored = []
    for item in pool.items.select_related("sample"):
        with item.image_file.open("rb") as fh:
            stored.append(fh.read())
    inline, served = everything_an_annotator_receives(pool, annotator)
    for images in (stored, inline, served):
        shapes = lengths_by_shape(images)
        assert shapes == {(28, 28, "L"): {next(iter(shapes[(28, 28, "L")]))}}, shapes
    assert sorted(inline) == sorted(served)
