"""Images out: deterministic PNG bytes with no metadata chunks (nothing that could leak provenance to an
annotator, and identical bytes for identical pixels), and grids for reports.

The PNGs are stored uncompressed (zlib level 0): a compressed file's length follows its content (training images
compress far better than generated ones, low-active samples worse than regular ones), and a length an annotator's
browser can read would tell the kinds apart without looking. Uncompressed, every image of one size and mode has
the same byte length.
"""

from __future__ import annotations

import io

import torch
from PIL import Image
from torchvision.utils import make_grid


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) float in [0, 1], C = 1 or 3 -> PIL image (L or RGB)."""
    x = image.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8)
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1|3, H, W) tensor, got shape {tuple(image.shape)}")
    if x.shape[0] == 1:
        return Image.fromarray(x[0].numpy())
    return Image.fromarray(x.permute(1, 2, 0).contiguous().numpy())


def pil_to_png_bytes(image: Image.Image) -> bytes:
    """Uncompressed PNG with only IHDR (PLTE/tRNS for palette images), IDAT and IEND chunks: its length depends on
    the size and mode alone. Pillow writes text/pHYs chunks only when asked to, and nothing is asked here."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=0)
    return buf.getvalue()


def to_png_bytes(image: torch.Tensor) -> bytes:
    """(C, H, W) float in [0, 1] -> constant-length PNG bytes (see pil_to_png_bytes)."""
    return pil_to_png_bytes(to_pil(image))


def image_grid(images: torch.Tensor, nrow: int) -> Image.Image:
    """A grid with `nrow` images per row, white 2-pixel gutters."""
    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    if images.shape[1] == 1:
        grid = grid[:1]
    return to_pil(grid)
