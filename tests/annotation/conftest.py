"""A small blinded pool built directly from rows and PIL images (no training needed), and a campaign on it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from PIL import Image, PngImagePlugin

from annotation.models import Campaign, Priming
from generation.models import GenerationJob, PoolItem, Sample, SamplePool, TrainedModel

SCHEMES = ("regular", "noisy", "random_flip", "low_active")


def png(seed: int, *, text: str | None = None) -> bytes:
    """A 28x28 grayscale PNG; `text` adds a tEXt chunk, as a careless writer might."""
    im = Image.new("L", (28, 28), color=(seed * 37) % 256)
    im.putpixel((seed % 28, (seed // 28) % 28), 255)
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def make_training_folder(root: Path, n: int = 12) -> Path:
    folder = root / "train-images"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{i:03d}.png").write_bytes(png(i))
    return folder


def make_pool(folder: Path, per_scheme: int = 3, attention_checks: int = 1) -> SamplePool:
    model = TrainedModel.objects.create(name="tiny", dataset="folder", folder_path=str(folder), status="succeeded")
    job = GenerationJob.objects.create(trained_model=model, schemes={s: {} for s in SCHEMES}, samples_per_scheme=per_scheme)
    pool = SamplePool.objects.create(job=job, name="pool", per_scheme=per_scheme)
    position = 0
    for s_index, scheme in enumerate(SCHEMES):
        for i in range(per_scheme):
            sample = Sample(job=job, scheme=scheme, index=i)
            # The metadata names the scheme: the image view must strip it.
            sample.image.save("x.png", ContentFile(png(10 * s_index + i, text=f"scheme={scheme} job={job.pk}")), save=False)
            sample.save()
            PoolItem.objects.create(pool=pool, position=position, sample=sample)
            position += 1
    for i in range(attention_checks):
        item = PoolItem(pool=pool, position=position)
        item.attention_image.save("x.png", ContentFile(png(100 + i)), save=False)
        item.save()
        position += 1
    return pool


@pytest.fixture
def training_folder(tmp_path: Path) -> Path:
    return make_training_folder(tmp_path)


@pytest.fixture
def pool(db, training_folder: Path) -> SamplePool:
    return make_pool(training_folder)


@pytest.fixture
def campaign(pool, annotator, other_annotator) -> Campaign:
    campaign = Campaign.objects.create(name="Digits", pool=pool, priming_count=9, instructions="<p>Be <em>careful</em></p>")
    campaign.annotators.add(annotator, other_annotator)
    return campaign


@pytest.fixture
def primed(campaign, annotator, other_annotator) -> Campaign:
    for user in (annotator, other_annotator):
        Priming.objects.create(campaign=campaign, annotator=user)
    return campaign
