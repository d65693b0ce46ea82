"""The reconstruction distance D_r of generated images, two ways.

- amortised: ||x - decode(encoder_mean(x))||_2 on pixels in [0, 1]: what the paper's numbers match (1.45 for
  regular MNIST samples).
- optimised: min over z of ||x - decode(z)||_2 by batched Adam. Adam's state is per element, so each sample is
  optimised independently of its batch. The run always starts from the encoder mean; `starts` adds more starting
  latents (a job passes each image's own generating z, and can ask for random ones), each optimised in turn, and
  the best value over all starts and steps is kept (so it is never above the amortised value). A sample counts as
  converged once one step of its best start improves it by less than `tol`.

A single start from the encoder mean is a loose upper bound: the encoder's estimate can sit in another basin than
the true minimum (for a regular sample, decode(z) for its own z, the true minimum is 0 while the encoder's start
stops near 0.04). The generating latent as a second start closes that gap; for images the decoder did not make
(switched units, noise) it is still a good start, since the intervention moves the image away from decode(z).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from .device import model_device, pick_device


@dataclass
class OptimisedDr:
    values: torch.Tensor  # (n,)
    converged: torch.Tensor  # (n,) bool
    steps: int  # the most steps any batch ran


def _distance(model: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return (x - model.decode(z)).flatten(1).norm(dim=1)


def _setup(model: nn.Module, device) -> torch.device:
    dev = pick_device(device) if device is not None else model_device(model)
    model.to(dev).eval()
    return dev


@torch.no_grad()
def dr_amortised(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000, device=None) -> torch.Tensor:
    """(n,) ||x - decode(encode_mean(x))||_2."""
    dev = _setup(model, device)
    out = []
    for x in images.split(batch_size):
        x = x.to(dev)
        out.append(_distance(model, x, model.encode(x)[0]).cpu())
    return torch.cat(out)


def dr_optimised(model: nn.Module, images: torch.Tensor, *, steps: int = 200, lr: float = 0.05, tol: float = 1e-4,
                 batch_size: int = 1000, device=None, progress: bool = True, early_exit: bool = False,
                 check_every: int = 1, starts: list[torch.Tensor] | tuple[torch.Tensor, ...] = (),
                 random_starts: int = 0, seed: int = 0,
                 on_progress: Callable[[float], None] | None = None) -> OptimisedDr:
    """(n,) min over z of ||x - decode(z)||_2, with per-sample convergence flags.

    `starts`: extra starting latents, each (n, latent_dim) (e.g. the z each image was generated from);
    `random_starts`: that many more from N(0, I), drawn from `seed`. Every start runs `steps` steps; the best value
    over all of them is kept, with the convergence flag of the start that reached it.

    Adam is written out on plain tensors (the same update as torch.optim.Adam, betas 0.9/0.999, eps 1e-8), and
    the gradient is taken for z only. `early_exit`: a converged sample stops being optimised (its rows leave the
    batch, so later steps cost less); its value is then the best seen up to its convergence, which can be a
    little above what more steps would reach. `check_every`: how often (in steps) the loop asks whether the
    whole batch has converged (and, with early_exit, drops converged rows): each look waits for the device.
    `on_progress(fraction)` runs after every step with the share of the work done (images x starts x steps).
    """
    if check_every < 1:
        raise ValueError(f"check_every must be at least 1, got {check_every}")
    starts = _starting_latents(model, images, starts, random_starts, seed)
    dev = _setup(model, device)
    params = list(model.parameters())
    grad_flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    values, conv, most = [], [], 0
    work, done_before = len(images) * (1 + len(starts)), 0

    def ticker(rows: int) -> Callable[[int], None] | None:
        if on_progress is None:
            return None
        first = done_before
        return lambda step: on_progress((first + rows * step / steps) / work)

    try:
        bar = tqdm(total=len(images), desc="D_r optimised", disable=not progress, unit="img")
        for b, x in enumerate(images.split(batch_size)):
            x = x.to(dev)
            with torch.no_grad():
                z0s = [model.encode(x)[0], *(z.split(batch_size)[b].to(dev) for z in starts)]
            best = torch.full((len(x),), torch.inf, device=dev)
            done = torch.zeros(len(x), dtype=torch.bool, device=dev)
            for z0 in z0s:
                value, conv_z, step = _optimise_batch(model, x, z0, steps, lr, tol, early_exit, check_every,
                                                      ticker(len(x)))
                done_before += len(x)
                better = value < best
                best, done = torch.where(better, value, best), torch.where(better, conv_z, done)
                most = max(most, step)
            values.append(best.cpu())
            conv.append(done.cpu())
            bar.update(len(x))
        bar.close()
    finally:
        for p, f in zip(params, grad_flags, strict=True):
            p.requires_grad_(f)
    return OptimisedDr(values=torch.cat(values), converged=torch.cat(conv), steps=most)


def _starting_latents(model: nn.Module, images: torch.Tensor, starts, random_starts: int,
                      seed: int) -> list[torch.Tensor]:
    """The extra starts, checked against the images, plus `random_starts` draws from N(0, I)."""
    n, dim = len(images), int(model.latent_dim)
    out = []
    for z in starts:
        if tuple(z.shape) != (n, dim):
            raise ValueError(f"a starting latent must have shape ({n}, {dim}) like the images, got {tuple(z.shape)}")
        out.append(z.detach().float().cpu())
    if random_starts < 0:
        raise ValueError(f"random_starts must be at least 0, got {random_starts}")
    gen = torch.Generator().manual_seed(seed)
    out += [torch.randn(n, dim, generator=gen) for _ in range(random_starts)]
    return out


def _optimise_batch(model: nn.Module, x: torch.Tensor, z0: torch.Tensor, steps: int, lr: float, tol: float,
                    early_exit: bool, check_every: int, on_step: Callable[[int], None] | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(best distance, converged, steps run) for one batch from the starting latents z0; see dr_optimised."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    z = z0.detach().clone()
    n = len(x)
    best = torch.full((n,), torch.inf, device=x.device)
    done = torch.zeros(n, dtype=torch.bool, device=x.device)
    rows = torch.arange(n, device=x.device)  # the rows of the batch still being optimised
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    prev = None
    step = 0
    for step in range(1, steps + 1):  # noqa: B007 (step is read after the loop)
        z.requires_grad_(True)
        d = _distance(model, x, z)  # the distance at the z reached after step-1 updates
        (g,) = torch.autograd.grad(d.sum(), z)
        with torch.no_grad():
            d = d.detach()
            best[rows] = torch.minimum(best[rows], d)
            if prev is not None:
                done[rows] |= (prev - d).abs() < tol
            prev = d
            if step % check_every == 0:
                active = ~done[rows]
                if not bool(active.any()):
                    break
                if early_exit and not bool(active.all()):
                    keep = active.nonzero()[:, 0]
                    rows, x, z, g, m, v, prev = (t[keep] for t in (rows, x, z, g, m, v, prev))
            z = z.detach()
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / (1 - b2 ** step) ** 0.5).add_(eps)
            z.addcdiv_(m, denom, value=-lr / (1 - b1 ** step))
            if on_step is not None:
                on_step(step)
    else:
        with torch.no_grad():
            best[rows] = torch.minimum(best[rows], _distance(model, x, z))
    return best, done, step
