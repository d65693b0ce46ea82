"""Reconstructions: decode(encoder_mean(x)) with regular decoding, batched.

A reconstruction passes through the same decoder as every generated sample, so it has the pool's size and the
decoder's own softness; it still shows a real, held-out image (not a novel one). That makes it an attention check
that looks like the pool: its expected label is "not novel or creative", and nothing but the content gives it away.
The model is put in eval mode (no dropout) and no hook is attached, so the result is deterministic per model.
"""

from __future__ import annotations

import torch
from torch import nn

from .device import model_device, pick_device
from .models import decode


@torch.no_grad()
def reconstruct(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000, device=None) -> torch.Tensor:
    """(n, C, H, W) in [0, 1] on the CPU: the decoded encoder mean of each image, one batched pass per batch."""
    dev = pick_device(device) if device is not None else model_device(model)
    model.to(dev).eval()
    out = [decode(model, model.encode(x.to(dev))[0]).float().cpu() for x in images.split(batch_size)]
    if not out:
        return torch.empty(0, *getattr(model, "input_shape", ()))
    return torch.cat(out).clamp_(0, 1)
