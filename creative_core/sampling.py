"""Generate samples: z ~ N(0, I), decoded with a scheme hooked into one layer, provenance kept per sample.

The i-th sample depends only on (seed, i): its z, its units and its noise come from counter-based randomness
(randomness.py), so any batch size, or a job resumed at `start`, gives the same samples. The same seed gives the
same z under every scheme, so schemes are compared on paired latents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from .activations import ActivationProfile
from .datasets import training_set
from .device import model_device, pick_device
from .layers import resolve_layer
from .models import decode
from .randomness import STREAM_Z, normal, sample_keys
from .schemes import Scheme, make_scheme


@dataclass
class Samples:
    scheme: str
    params: dict
    images: torch.Tensor  # (n, C, H, W) float in [0, 1], CPU
    z: torch.Tensor  # (n, zdim)
    units: torch.Tensor  # (n, k) int64, -1 padded; (n, 0) for regular
    noise_seed: torch.Tensor | None  # (n,) int64, noisy only
    layer: str
    seed: int = 0
    start: int = 0
    info: dict | None = None  # what the scheme derived from the profile (band bounds, fallback value, ...)

    def __len__(self) -> int:
        return len(self.images)


def latents(seed: int, index: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """The z of samples `index` under `seed`."""
    return normal(sample_keys(seed, STREAM_Z, index), latent_dim).float()


@torch.no_grad()
def generate(model: nn.Module, profile: ActivationProfile | None, scheme: Scheme | str, n: int, *, seed: int,
             batch_size: int = 1000, device=None, progress: bool = True,
             on_batch: Callable[[int, int], None] | None = None, start: int = 0,
             layer: str | int | None = None, dataset: str | None = None, root=None,
             limit: int | None = None) -> Samples:
    """n samples (indices start..start+n-1) decoded under `scheme` at the profile's layer.

    `on_batch(done, n)` runs after each batch. `layer` is only needed when there is no profile (regular).
    A scheme that needs the training images (interpolation) reads `dataset` (default: the profile's) from `root`,
    the same `limit` images the model was trained on.
    """
    if isinstance(scheme, str):
        scheme = make_scheme(scheme)
    dev = pick_device(device) if device is not None else model_device(model)
    model.to(dev).eval()
    name, module = resolve_layer(model, profile.layer if profile is not None else layer)
    scheme.prepare(profile, dev)
    latent_dim = int(model.latent_dim)
    if scheme.needs_data:
        bind_training_data(scheme, model, dataset or (profile.dataset if profile is not None else None), root, dev,
                           limit=limit)
    current: dict[str, torch.Tensor] = {}
    out = {"images": [], "z": [], "units": [], "noise_seed": []}

    def hook(_m: nn.Module, _inp, h: torch.Tensor) -> torch.Tensor:
        new, units, noise_seed = scheme.apply(h, current["index"], seed)
        current["units"], current["noise_seed"] = units, noise_seed
        return new

    handle = module.register_forward_hook(hook)
    try:
        bar = tqdm(total=n, desc=f"generate {scheme.name}", disable=not progress, unit="img")
        for s in range(0, n, batch_size):
            index = torch.arange(start + s, start + min(s + batch_size, n), device=dev)
            current["index"] = index
            z = scheme.latents(latents(seed, index, latent_dim).to(dev), index, seed)
            out["images"].append(decode(model, z).float().cpu())
            out["z"].append(z.cpu())
            out["units"].append(current["units"].cpu())
            if current["noise_seed"] is not None:
                out["noise_seed"].append(current["noise_seed"].cpu())
            bar.update(len(index))
            if on_batch is not None:
                on_batch(min(s + batch_size, n), n)
        bar.close()
    finally:
        handle.remove()
    cat = lambda xs: torch.cat(xs) if xs else None  # noqa: E731
    return Samples(scheme=scheme.name, params=dict(scheme.params), images=cat(out["images"]), z=cat(out["z"]),
                   units=cat(out["units"]), noise_seed=cat(out["noise_seed"]), layer=name, seed=seed, start=start,
                   info=dict(scheme.info))


@torch.no_grad()
def bind_training_data(scheme: Scheme, model: nn.Module, dataset: str | None, root, device: torch.device,
                       limit: int | None = None) -> None:
    """Give a scheme that needs them the model's training images (once per scheme, model and data set)."""
    key = (id(model), dataset, str(root), limit)
    if getattr(scheme, "_bound", None) == key:
        return
    if not dataset:
        raise ValueError(f"scheme {scheme.name!r} needs the model's training data set (pass dataset=)")
    shape = decode(model, torch.zeros(1, int(model.latent_dim), device=device)).shape[1:]
    data = training_set(dataset, root=root, limit=limit, image_size=shape[-1], channels=shape[0])
    scheme.bind_data(model, data.images, data.labels, device)  # type: ignore[attr-defined]
    scheme._bound = key  # type: ignore[attr-defined]
