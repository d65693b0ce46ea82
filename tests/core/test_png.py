from __future__ import annotations

import io
import struct

import numpy as np
import torch
from PIL import Image

import creative_core as cc


def _chunks(png: bytes) -> list[bytes]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        out.append(png[pos + 4:pos + 8])
        pos += 12 + length
    return out


def test_png_bytes_carry_no_metadata_chunks():
    for img in (torch.rand(1, 28, 28), torch.rand(3, 16, 16)):
        chunks = set(_chunks(cc.to_png_bytes(img)))
        assert chunks <= {b"IHDR", b"IDAT", b"IEND"}, chunks


def test_png_bytes_are_deterministic_and_lossless():
    img = torch.rand(3, 8, 8)
    a, b = cc.to_png_bytes(img), cc.to_png_bytes(img.clone())
    assert a == b
    back = torch.from_numpy(np.array(Image.open(io.BytesIO(a)))).float()
    assert torch.allclose(back.permute(2, 0, 1) / 255, img, atol=0.5 / 255 + 1e-6)


def test_image_grid_lays_out_rows():
    grid = cc.image_grid(torch.rand(12, 1, 28, 28), nrow=4)
    assert grid.size == (4 * 30 + 2, 3 * 30 + 2) and grid.mode == "L"
