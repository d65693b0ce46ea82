"""Which torch device a worker uses: CUDA when present, else the CPU; CREATIVE_DEVICE overrides.

torch is imported inside the functions, never at module import, so the Celery parent process (which
imports this module through the task modules) never initialises CUDA: a CUDA context created before
the prefork pool forks is unusable in the children.
"""

from __future__ import annotations

import os
from typing import Any


def pick_device(preferred: str | None = None) -> str:
    """The device string to hand to creative_core ("cuda", "cuda:1", "cpu").

    Order: the argument, then the CREATIVE_DEVICE environment variable, then CUDA when available, else CPU.
    A CUDA device asked for on a machine without CUDA fails loudly rather than running silently on the CPU.
    """
    import torch

    choice = preferred or os.environ.get("CREATIVE_DEVICE", "").strip() or None
    if choice is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(choice)  # raises RuntimeError on a malformed name
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"CREATIVE_DEVICE={choice!r} asks for CUDA, but torch sees no CUDA device on this machine")
    return str(device)


def describe_device(device: str) -> dict[str, Any]:
    """What a worker reports about its device (the health and probe tasks log it)."""
    import torch

    info: dict[str, Any] = {"device": device, "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        info["name"] = torch.cuda.get_device_name(index)
        info["memory_gib"] = round(torch.cuda.get_device_properties(index).total_memory / 2**30, 1)
    return info
