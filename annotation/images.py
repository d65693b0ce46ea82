"""Image bytes for annotators: pool items stripped of metadata and re-encoded to a constant length, and the cached
priming grid."""

from __future__ import annotations

import hashlib
import io
import math
import struct
from pathlib import Path

from django.conf import settings
from django.db.models.fields.files import FieldFile
from PIL import Image

from generation.models import Dataset

from .models import Campaign

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks needed to draw the picture; text, time, physical size and every private chunk are dropped.
CRITICAL_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"}


class BadImage(Exception):
    pass


def strip_png(data: bytes) -> bytes:
    """The PNG with only its critical chunks: nothing a file could say about where it came from survives."""
    if not data.startswith(PNG_SIGNATURE):
        raise BadImage("not a PNG file")
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise BadImage("truncated PNG chunk")
        if kind in CRITICAL_CHUNKS:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


# Per process: the length of the constant-size encoding, by the chunks that fix it (IHDR, PLTE, tRNS). A stored file
# that already has that length (creative_core writes them so) is served as it is, without decoding.
_CONSTANT_LENGTH: dict[bytes, int] = {}


def _layout(stripped: bytes) -> bytes:
    """Every chunk but the pixel data (IDAT), which is all the constant-size encoding's length depends on."""
    out, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(stripped):
        (length,) = struct.unpack(">I", stripped[pos : pos + 4])
        if stripped[pos + 4 : pos + 8] != b"IDAT":
            out.append(stripped[pos : pos + 12 + length])
        pos += 12 + length
    return b"".join(out)


def constant_size_png(data: bytes) -> bytes:
    """The same pixels as an uncompressed, non-interlaced PNG with only critical chunks: its byte length depends on
    the width, height and mode alone, whatever wrote the file and however well its content compresses. (A length
    that follows the content tells training images from generated ones, and low-active samples from regular ones.)
    creative_core writes files this way already; re-encoding here covers files written otherwise."""
    stripped = strip_png(data)
    layout = _layout(stripped)
    if _CONSTANT_LENGTH.get(layout) == len(stripped):
        return stripped
    try:
        with Image.open(io.BytesIO(stripped)) as im:
            im.load()
            # Pillow would carry an ICC profile or EXIF over from the source; keep only what draws the pixels.
            im.info = {k: v for k, v in im.info.items() if k == "transparency"}
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=False, compress_level=0)
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"unreadable PNG: {exc}") from exc
    out = strip_png(buf.getvalue())
    _CONSTANT_LENGTH[layout] = len(out)
    return out


def stored_png(field: FieldFile) -> bytes:
    """A pool item's image file, stripped and of constant length for its size (inline and by URL alike)."""
    with field.storage.open(field.name, "rb") as fh:
        return constant_size_png(fh.read())


# Per process, by pool: a pool's job and model never change once it exists (core/freezing.py), so the three rows
# behind a campaign's priming grid are read once, not on every visit to the priming page.
_DATASET_BY_POOL: dict[int, str] = {}


def dataset_name(campaign: Campaign) -> str:
    if campaign.pool_id in _DATASET_BY_POOL:
        return _DATASET_BY_POOL[campaign.pool_id]
    model = campaign.pool.job.trained_model
    name = f"folder:{model.folder_path}" if model.dataset == Dataset.FOLDER else model.dataset
    _DATASET_BY_POOL[campaign.pool_id] = name
    return name


def priming_path(campaign: Campaign) -> Path:
    # Keyed by everything that changes the grid, so editing the campaign's count builds a new one.
    key = hashlib.sha256(f"{dataset_name(campaign)}|{campaign.priming_count}|{campaign.pk}".encode()).hexdigest()[:16]
    return Path(settings.MEDIA_ROOT) / "priming" / f"{key}.png"


def priming_png(campaign: Campaign) -> bytes:
    """The grid of training images shown before labeling; built once with creative_core, then read from disk."""
    path = priming_path(campaign)
    if not path.exists():
        import creative_core as cc

        n = max(1, campaign.priming_count)
        images = cc.training_images(dataset_name(campaign), n, seed=campaign.pk or 0, root=settings.DATA_ROOT)
        grid = cc.image_grid(images, nrow=max(1, math.ceil(math.sqrt(n))))
        buf = io.BytesIO()
        grid.save(buf, format="PNG")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(strip_png(buf.getvalue()))
        tmp.replace(path)  # atomic: two first visitors never see half a file
    return path.read_bytes()
