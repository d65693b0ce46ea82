"""Train a VAE: the negative ELBO (Bernoulli reconstruction + KL), Adam, one seed for everything.

The likelihood is Bernoulli on grey-level pixels in [0, 1] (binary cross-entropy with the grey level as target; the
images are not binarised). Its BCE cannot reach 0: a perfect reconstruction still scores the pixels' own binary
entropy (`bce_floor`, about 45.5 nats per MNIST test image, 190 per Fashion-MNIST one), so our test ELBOs are on
another scale than those of binarised MNIST.

Training runs a fixed number of epochs, or (`until_converged=True`) until the test ELBO stops improving.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ._version import __version__
from .datasets import as_tensor, load_dataset
from .device import pick_device
from .errors import Cancelled
from .models import MLPVAE, ConvVAE


@dataclass
class Trained:
    """A trained model (eval mode) and what made it."""

    model: nn.Module
    meta: dict = field(default_factory=dict)


# The demo's recipe (`manage.py demo`, and the test that checks its model): a model worth labeling within a few
# minutes on 2 CPU cores. Every training image for few epochs, with a larger batch (fewer optimiser steps, each
# cheaper per image): 3 epochs on 10,000 images gave near-identical blurry blobs under every scheme.
DEMO_TRAINING: dict = {"dataset": "mnist", "epochs": 3, "batch_size": 256, "limit": None, "seed": 0}


def default_arch(dataset: str) -> str:
    return "conv" if dataset.startswith("folder:") else "mlp"


def default_latent_dim(dataset: str) -> int:
    """The paper's z: 50 for MNIST and Fashion-MNIST, 100 for the combined set; 128 for image folders."""
    return 100 if dataset == "mnist+fmnist" else 128 if dataset.startswith("folder:") else 50


def elbo_terms(model: nn.Module, x: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (reconstruction BCE, KL) in nats; ELBO = -(bce + kl)."""
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
    logits = model.decode_logits(z)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return bce, kl


def batches(ds: Dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None = None):
    """Image batches; in-memory data sets are sliced directly (much faster than a DataLoader on 2 cores)."""
    t = as_tensor(ds)
    if t is not None:
        order = torch.randperm(len(t), generator=generator) if shuffle else torch.arange(len(t))
        for s in range(0, len(t), batch_size):
            yield t.images[order[s:s + batch_size]]
    else:
        for x, _ in DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator):
            yield x


@torch.no_grad()
def evaluate(model: nn.Module, ds: Dataset, device: torch.device, batch_size: int = 1000) -> dict:
    """Test ELBO (with one z sample, the usual estimate), BCE, and L2 reconstruction distance from the mean."""
    model.eval()
    tot = {"elbo": 0.0, "bce": 0.0, "l2": 0.0}
    n = 0
    g = torch.random.fork_rng(devices=[]) if device.type == "cpu" else torch.random.fork_rng()
    with g:
        torch.manual_seed(12345)
        for x in batches(ds, batch_size, shuffle=False):
            x = x.to(device)
            bce, kl = elbo_terms(model, x, sample=True)
            mu, _ = model.encode(x)
            tot["elbo"] += float(-(bce + kl).sum())
            tot["bce"] += float(bce.sum())
            tot["l2"] += float((x - model.decode(mu)).flatten(1).norm(dim=1).sum())
            n += len(x)
    return {"test_elbo": tot["elbo"] / n, "test_bce": tot["bce"] / n, "test_recon": tot["l2"] / n}


@torch.no_grad()
def bce_floor(ds: Dataset, batch_size: int = 1000) -> float:
    """Mean over images of the sum of the pixels' binary entropy, in nats: the BCE of a perfect reconstruction, so
    no model's ELBO on these images exceeds minus this (0 for binarised images)."""
    total, n = 0.0, 0
    for x in batches(ds, batch_size, shuffle=False):
        x = x.double()
        total += float(-(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).sum())
        n += len(x)
    return total / max(n, 1)


@torch.no_grad()
def log_likelihood(model: nn.Module, images: torch.Tensor, *, k: int = 100, batch_size: int = 500, seed: int = 12345,
                   device=None) -> torch.Tensor:
    """(n,) importance-weighted lower bound on log p(x) in nats (Burda et al., IWAE), with k samples of z from the
    encoder: log (1/k) sum_j p(x|z_j) p(z_j) / q(z_j|x). k = 1 is the ELBO; it tightens towards log p(x) as k
    grows (the IWAE paper reports k = 5,000). Bernoulli likelihood on the pixels as given, so binarised images
    (x > 0.5) give the scale of binarised-MNIST results. Deterministic for a seed."""
    dev = pick_device(device)
    model.eval().to(dev)
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for x in images.split(batch_size):
        x = x.to(dev)
        mu, logvar = model.encode(x)
        std = (0.5 * logvar).exp()
        lw = torch.empty(k, len(x), dtype=torch.float64, device=dev)
        for j in range(k):
            eps = torch.randn(mu.shape, generator=g).to(dev)
            z = mu + std * eps
            log_px = -F.binary_cross_entropy_with_logits(model.decode_logits(z), x, reduction="none").flatten(1).sum(1)
            log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
            log_q = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(1)
            lw[j] = (log_px + log_pz - log_q).double()
        out.append((torch.logsumexp(lw, 0) - math.log(k)).cpu())
    return torch.cat(out)


def held_out_split(dataset: str, *, root: str | Path | None = None, limit: int | None = None, image_size: int = 64,
                   channels: int = 3) -> Dataset:
    """The held-out images the test ELBO is computed on: the data set's test split, limit // 6 of them under a
    training `limit` (the usual train/test proportion of MNIST)."""
    return load_dataset(dataset, train=False, root=root, limit=None if limit is None else max(limit // 6, 1),
                        image_size=image_size, channels=channels)


@dataclass
class _Plateau:
    """The stopping rule of until_converged: an epoch improves when its test ELBO exceeds the reference (the ELBO of
    the last improving epoch) by more than `min_delta` nats; training stops after `patience` epochs in a row
    without improvement."""

    patience: int
    min_delta: float
    reference: float | None = None
    stale: int = 0

    def update(self, elbo: float) -> bool:
        """Record one epoch's test ELBO; True when training should stop."""
        if self.reference is None or elbo > self.reference + self.min_delta:
            self.reference, self.stale = elbo, 0
        else:
            self.stale += 1
        return self.stale >= self.patience


def _new_model(arch: str, shape: tuple, latent_dim: int) -> nn.Module:
    if arch == "mlp":
        return MLPVAE(input_shape=shape, latent_dim=latent_dim)
    if arch == "conv":
        return ConvVAE(channels=shape[0], image_size=shape[1], latent_dim=latent_dim)
    raise ValueError(f"unknown arch {arch!r}; use 'mlp' or 'conv'")


def _epoch(model: nn.Module, opt, data, dev, step: Callable[[int, float], None],
           should_stop: Callable[[], bool] | None, epoch: int) -> float:
    """One pass over the training batches; the mean loss. `step(seen, mean loss so far)` after each batch."""
    model.train()
    total, seen = 0.0, 0
    for x in data:
        if should_stop is not None and should_stop():
            raise Cancelled(f"training cancelled in epoch {epoch}")
        x = x.to(dev)
        bce, kl = elbo_terms(model, x)
        loss = (bce + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(x)
        seen += len(x)
        step(seen, total / seen)
    return total / seen


def _convergence(history: list[dict], epochs: int, patience: int, min_delta: float, stopped: bool) -> dict:
    """The meta entries of a run trained until converged: its test ELBO curve and the stopping rule."""
    curve = [m["test_elbo"] for m in history]
    best = max(range(len(history)), key=curve.__getitem__)
    return {"test_elbo_curve": curve,
            "until_converged": {"max_epochs": epochs, "patience": patience, "min_delta": min_delta,
                                "stopped": stopped, "best_epoch": best + 1, "best_test_elbo": curve[best],
                                "weights": "last epoch"}}


def train(dataset: str, *, epochs: int = 15, seed: int = 0, latent_dim: int | None = None, arch: str | None = None,
          limit: int | None = None, batch_size: int = 128, lr: float = 1e-3, device: str | None = None,
          root: str | Path | None = None, progress: bool = True,
          on_epoch: Callable[[int, int, dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, image_size: int = 64, channels: int = 3,
          on_batch: Callable[[int, int, int], None] | None = None,
          until_converged: bool = False, patience: int = 5, min_delta: float = 0.1) -> Trained:
    """Train the default (or given) architecture on `dataset`; returns the model in eval mode with its metadata.

    `on_epoch(epoch, epochs, metrics)` runs after each epoch (1-based epoch); `on_batch(epoch, seen, n_train)`
    after each batch (images of the epoch seen so far); `should_stop()` is polled every batch and makes train raise
    Cancelled. Test metrics are computed once, at the end.

    `until_converged`: `epochs` becomes the most epochs to run. After each epoch the test ELBO (`evaluate`, the
    computation of the end) is measured on the held-out test split and passed to on_epoch as metrics["test_elbo"];
    training stops once `patience` epochs in a row have not improved it by more than `min_delta` nats over the last
    improving epoch. The weights kept are the last epoch's, not the best one's: the test split only decides how long
    to train, so the test ELBO reported is not picked as a maximum over epochs, and the model is exactly the one a
    fixed run of that many epochs trains (same seed; evaluating draws from its own random stream). meta["epochs"] is
    the epochs run; meta["test_elbo_curve"] the test ELBO after each; meta["until_converged"] the rule, whether it
    stopped training (False: it ran to the maximum) and the best epoch.
    """
    if until_converged and not (isinstance(patience, int) and patience >= 1):
        raise ValueError(f"patience must be a positive number of epochs, got {patience!r}")
    if until_converged and not min_delta >= 0:
        raise ValueError(f"min_delta must be >= 0 nats, got {min_delta!r}")
    start = time.time()
    dev = pick_device(device)
    arch = arch or default_arch(dataset)
    latent_dim = latent_dim or default_latent_dim(dataset)
    torch.manual_seed(seed)
    train_ds = load_dataset(dataset, train=True, root=root, limit=limit, image_size=image_size, channels=channels)
    test_ds = held_out_split(dataset, root=root, limit=limit, image_size=image_size, channels=channels)
    shape = tuple(train_ds[0][0].shape)
    model = _new_model(arch, shape, latent_dim).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n_train = len(train_ds)  # type: ignore[arg-type]
    history = []
    plateau = _Plateau(patience, min_delta) if until_converged else None
    stopped, last_eval = False, None
    for epoch in range(1, epochs + 1):
        desc = f"train {dataset} epoch {epoch}/{'<=' if plateau else ''}{epochs}"
        with tqdm(total=n_train, desc=desc, disable=not progress, unit="img") as bar:
            def step(seen: int, loss: float, epoch: int = epoch, bar: tqdm = bar) -> None:
                bar.update(seen - bar.n)
                bar.set_postfix(loss=f"{loss:.2f}")
                if on_batch is not None:
                    on_batch(epoch, seen, n_train)

            loss = _epoch(model, opt, batches(train_ds, batch_size, shuffle=True, generator=g), dev, step,
                          should_stop, epoch)
        metrics = {"train_loss": loss, "seconds": time.time() - start}
        if plateau is not None:
            last_eval = evaluate(model, test_ds, dev)
            metrics["test_elbo"] = last_eval["test_elbo"]
            stopped = plateau.update(last_eval["test_elbo"])
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, epochs, metrics)
        if stopped:
            break
    model.eval()
    run = len(history)
    meta = {"dataset": dataset, "arch": arch, "latent_dim": latent_dim, "epochs": run, "seed": seed,
            "limit": limit, "batch_size": batch_size, "lr": lr, "input_shape": list(shape),
            "n_train": n_train, "n_test": len(test_ds),  # type: ignore[arg-type]
            **(last_eval or evaluate(model, test_ds, dev)), "test_bce_floor": bce_floor(test_ds),
            "version": __version__, "device": str(dev), "seconds": time.time() - start, "history": history}
    if plateau is not None:
        meta.update(_convergence(history, epochs, patience, min_delta, stopped))
    return Trained(model=model, meta=meta)
