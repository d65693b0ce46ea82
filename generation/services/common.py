"""What every part of the generation services shares: the device, the batch settings and an error's message (the
errors themselves are in generation.errors)."""

from __future__ import annotations

from django.conf import settings

from ..errors import JobError

POLL_SECONDS = 2.0


def pick_device() -> str:
    """CUDA when present, else CPU (the project's helper when there is one)."""
    try:
        from config.devices import pick_device as project_pick_device  # type: ignore[import-not-found]
    except ImportError:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(project_pick_device())


def batch_size() -> int:
    return int(getattr(settings, "GENERATION_BATCH_SIZE", 1000))


def pool_reserve() -> int:
    """Samples per scheme whose images the results file keeps (8-bit), so that pools need no model."""
    return int(getattr(settings, "GENERATION_POOL_RESERVE", 1000))


def message_of(exc: BaseException) -> str:
    import creative_core as cc

    if isinstance(exc, JobError):
        return str(exc)
    if isinstance(exc, cc.DataError):
        return f"The data set could not be loaded: {exc}. Run `python -m creative_core fetch-data` on the worker."
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return f"Out of memory ({exc}). Lower GENERATION_BATCH_SIZE or the number of samples, then relaunch."
    return f"{type(exc).__name__}: {exc}"

