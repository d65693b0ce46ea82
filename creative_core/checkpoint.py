"""One checkpoint file: weights, the model's constructor config, metadata and (optionally) the activation profile.

Loading needs no arguments: the config rebuilds the architecture. The file is a torch.save'd dict of plain
types and tensors, read back with weights_only=True (no pickled code runs on load). Written atomically (temp
file, then rename) so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._version import __version__
from .activations import ActivationProfile
from .device import pick_device
from .errors import CheckpointError
from .models import build_model

FORMAT = "creative_core.checkpoint/1"
ARRAYS = ("percent_active", "max", "mean_active", "std", "corr")


@dataclass
class Checkpoint:
    model: nn.Module
    meta: dict
    profile: ActivationProfile | None


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict, profile: ActivationProfile | None = None) -> None:
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "arch" not in config:
        raise ValueError("only creative_core models (with a .config) can be saved as checkpoints")
    prof = None
    if profile is not None:
        prof = {"layer": profile.layer, "n_samples": profile.n_samples, "dataset": profile.dataset,
                **{k: torch.from_numpy(np.ascontiguousarray(getattr(profile, k), dtype=np.float32)) for k in ARRAYS}}
        if profile.p99_active is not None:  # optional: older checkpoints have no p99_active
            prof["p99_active"] = torch.from_numpy(np.ascontiguousarray(profile.p99_active, dtype=np.float32))
    blob = {"format": FORMAT, "version": __version__, "config": config,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": {**meta, "version": meta.get("version", __version__)}, "profile": prof}
    atomic_torch_save(blob, path)


def atomic_torch_save(blob: dict, path: str | Path) -> None:
    """torch.save into a temporary file beside `path`, then rename it into place: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: str | Path, *, device=None) -> Checkpoint:
    """The model (eval mode, on `device` or the automatic one), its metadata and profile (or None)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a creative_core checkpoint (format {FORMAT})")
    try:
        model = build_model(blob["config"])
        model.load_state_dict(blob["state_dict"])
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} does not match its architecture: {exc}") from exc
    model.to(pick_device(device)).eval()
    prof = blob.get("profile")
    profile = None
    if prof is not None:
        profile = ActivationProfile(layer=prof["layer"], n_samples=int(prof["n_samples"]), dataset=prof.get("dataset"),
                                    p99_active=prof["p99_active"].numpy() if "p99_active" in prof else None,
                                    **{k: prof[k].numpy() for k in ARRAYS})
    return Checkpoint(model=model, meta=dict(blob["meta"]), profile=profile)
