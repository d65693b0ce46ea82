"""The activation profile of one decoder layer over the training data (decoder applied to encoder means).

Per unit: percent activation (share of samples, in percent, where it is > 0), its maximum, its mean value when
active, the 99th percentile of its active values (p99_active), its standard deviation, and the correlation matrix
of the units. Sums are accumulated batch by batch in
float64, so memory is bounded by units^2, not by the data set. p99_active keeps each unit's TOP_KEPT largest values
(nearest rank: the ceil(1% x active count)-th largest active value), exact while a unit fires on at most
100 x TOP_KEPT samples, else the TOP_KEPT-th largest value (slightly above the true percentile). Profiles stored
before p99_active existed load with it as None.

A "unit" is one feature of a dense layer, or one channel of a convolutional layer; a channel's activity for a
sample is its spatial mean (so a channel is active when any of its positions is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .datasets import load_dataset
from .device import model_device, pick_device
from .layers import resolve_layer
from .training import batches


@dataclass
class ActivationProfile:
    layer: str
    percent_active: np.ndarray  # (units,) 0..100
    max: np.ndarray  # (units,)
    mean_active: np.ndarray  # (units,) 0 for units that never fire
    std: np.ndarray  # (units,)
    corr: np.ndarray  # (units, units); rows/columns of constant units are 0, diagonal 1
    n_samples: int
    dataset: str | None = None
    p99_active: np.ndarray | None = None  # (units,) 0 for units that never fire; None in older profiles

    @property
    def n_units(self) -> int:
        return len(self.percent_active)

    def to_dict(self) -> dict:
        """JSON-friendly (lists of floats)."""
        d = {"layer": self.layer, "n_samples": self.n_samples, "dataset": self.dataset,
             **{k: getattr(self, k).tolist() for k in ("percent_active", "max", "mean_active", "std", "corr")}}
        if self.p99_active is not None:
            d["p99_active"] = self.p99_active.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ActivationProfile:
        arrays = {k: np.asarray(d[k], dtype=np.float32) for k in ("percent_active", "max", "mean_active", "std", "corr")}
        p99 = d.get("p99_active")
        return cls(layer=d["layer"], n_samples=int(d["n_samples"]), dataset=d.get("dataset"),
                   p99_active=None if p99 is None else np.asarray(p99, dtype=np.float32), **arrays)


def unit_activity(h: torch.Tensor) -> torch.Tensor:
    """(batch, units): a dense layer as is, a convolutional one by the spatial mean of each channel."""
    return h if h.ndim == 2 else h.flatten(2).mean(2)


TOP_KEPT = 2048  # largest values kept per unit for p99_active: exact up to 204,800 active samples per unit


class _Stats:
    def __init__(self) -> None:
        self.n = 0
        self.count = self.max = self.sum = self.sum_sq = self.outer = self.top = None

    def add(self, a: torch.Tensor) -> None:
        a = a.detach().to(torch.float64)
        if self.count is None:
            u = a.shape[1]
            self.count, self.sum = torch.zeros(u, dtype=torch.float64, device=a.device), torch.zeros(u, dtype=torch.float64, device=a.device)
            self.max = torch.full((u,), -torch.inf, dtype=torch.float64, device=a.device)
            self.outer = torch.zeros(u, u, dtype=torch.float64, device=a.device)
            self.top, self.pending = torch.empty(0, u, dtype=torch.float32, device=a.device), []
        self.n += len(a)
        self.count += (a > 0).sum(0)
        self.max = torch.maximum(self.max, a.max(0).values)
        self.sum += a.sum(0)
        self.outer += a.T @ a
        self.pending.append(a.to(torch.float32))
        if sum(len(p) for p in self.pending) >= 4 * TOP_KEPT:  # merge a few batches at a time: fewer sorts
            self._merge_top()

    def _merge_top(self) -> None:
        both = torch.cat([self.top, *self.pending])
        self.pending = []
        self.top = both.topk(min(TOP_KEPT, len(both)), dim=0).values  # (kept, units), largest first

    def result(self, layer: str, dataset: str | None) -> ActivationProfile:
        n = self.n
        mean = self.sum / n
        cov = self.outer / n - torch.outer(mean, mean)
        var = cov.diagonal().clamp_min(0)
        std = var.sqrt()
        live = std > 1e-12
        denom = torch.outer(std, std)
        corr = torch.where(torch.outer(live, live), cov / denom.clamp_min(1e-300), torch.zeros_like(cov)).clamp(-1, 1)
        corr.fill_diagonal_(1.0)
        # mean when active: the sum over active samples equals the total sum for ReLU layers (inactive = 0);
        # for other activations it is an approximation, documented above as "mean when > 0" for ReLU.
        mean_active = torch.where(self.count > 0, self.sum / self.count.clamp_min(1), torch.zeros_like(self.sum))
        self._merge_top()
        rank = torch.ceil(0.01 * self.count).long().clamp(1, len(self.top)) - 1  # nearest rank, 0-based
        p99 = torch.where(self.count > 0, self.top.gather(0, rank[None, :])[0].double().clamp_min(0),
                          torch.zeros_like(self.sum))
        f = lambda t: t.cpu().numpy().astype(np.float32)  # noqa: E731
        return ActivationProfile(layer=layer, percent_active=f(100.0 * self.count / n), max=f(self.max.clamp_min(0)),
                                 mean_active=f(mean_active), std=f(std), corr=f(corr), n_samples=n, dataset=dataset,
                                 p99_active=f(p99))


@torch.no_grad()
def profile_images(model: nn.Module, images, *, layer: str | int | None = None, batch_size: int = 1000,
                   progress: bool = True, dataset: str | None = None) -> ActivationProfile:
    """Profile over an iterable of image batches (or one tensor)."""
    name, module = resolve_layer(model, layer)
    dev = model_device(model)
    stats = _Stats()
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, i, o: captured.append(unit_activity(o)))
    was_training = model.training
    model.eval()
    try:
        if isinstance(images, torch.Tensor):
            images = images.split(batch_size)
        for x in tqdm(images, desc=f"profile {name}", disable=not progress, unit="batch"):
            mu, _ = model.encode(x.to(dev))
            model.decode(mu)
            stats.add(captured.pop())
    finally:
        handle.remove()
        model.train(was_training)
    if stats.n == 0:
        raise ValueError("no images to profile")
    return stats.result(name, dataset)


def profile(model: nn.Module, dataset: str, *, layer: str | int | None = None, limit: int | None = None,
            batch_size: int = 1000, device=None, root: str | Path | None = None,
            progress: bool = True) -> ActivationProfile:
    """Profile `layer` (name, index, or the decoder's 3rd hidden layer) over the training set of `dataset`."""
    if device is not None:
        model.to(pick_device(device))
    kw = {}
    if hasattr(model, "input_shape") and dataset.startswith("folder:"):
        kw = {"channels": model.input_shape[0], "image_size": model.input_shape[1]}
    ds = load_dataset(dataset, train=True, root=root, limit=limit, **kw)
    return profile_images(model, batches(ds, batch_size, shuffle=False), layer=layer, batch_size=batch_size,
                          progress=progress, dataset=dataset)
