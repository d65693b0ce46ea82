"""How much faster the optimised D_r is now than the first implementation, on the same samples.

1. A model: --checkpoint, else a small one trained here (not timed; --epochs on --limit MNIST images).
2. --samples low-active samples (the scheme whose samples are furthest from the decoder's range, so the
   slowest to converge), then the optimised D_r (--steps, tol 1e-4) three ways, each timed:
   - before: the first implementation (torch.optim.Adam, .backward() into z, a device sync every step),
     kept below as the reference;
   - now: creative_core.dr_optimised with its defaults (the same values);
   - early exit: dr_optimised(early_exit=True, check_every=10) (converged samples leave the batch).
Prints each time, the speed-ups over "before", and how far the values move (the largest difference, and the
difference of the means). Usage:
  python benchmarks/dr_optimised_bench.py [--samples 2000] [--steps 200] [--batch-size 1000] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import creative_core as cc  # noqa: E402
from creative_core.device import pick_device  # noqa: E402


def before(model, images: torch.Tensor, *, steps: int, lr: float, tol: float, batch_size: int, device) -> torch.Tensor:
    """The first implementation of dr_optimised (values only)."""
    params = list(model.parameters())
    for p in params:
        p.requires_grad_(False)
    values = []
    try:
        for x in images.split(batch_size):
            x = x.to(device)
            with torch.no_grad():
                z0 = model.encode(x)[0]
            z = z0.clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            best = torch.full((len(x),), torch.inf, device=device)
            prev = None
            done = torch.zeros(len(x), dtype=torch.bool, device=device)
            for _ in range(steps):
                d = (x - model.decode(z)).flatten(1).norm(dim=1)
                with torch.no_grad():
                    best = torch.minimum(best, d)
                    if prev is not None:
                        done |= (prev - d).abs() < tol
                    prev = d.detach()
                if bool(done.all()):
                    break
                opt.zero_grad(set_to_none=True)
                d.sum().backward()
                opt.step()
            with torch.no_grad():
                best = torch.minimum(best, (x - model.decode(z)).flatten(1).norm(dim=1))
            values.append(best.cpu())
    finally:
        for p in params:
            p.requires_grad_(True)
    return torch.cat(values)


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=10_000)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--device", default=None)
    a = p.parse_args()
    dev = pick_device(a.device)
    if a.checkpoint:
        ck = cc.load_checkpoint(a.checkpoint, device=dev)
        model, prof = ck.model, ck.profile
    else:
        t = cc.train("mnist", epochs=a.epochs, limit=a.limit, progress=False, device=str(dev))
        model = t.model
        prof = None
    if prof is None:
        prof = cc.profile(model, "mnist", limit=a.limit, progress=False)
    x = cc.generate(model, prof, "low_active", a.samples, seed=0, progress=False).images
    kw = {"steps": a.steps, "lr": 0.05, "tol": 1e-4, "batch_size": a.batch_size, "device": dev}
    ref, t_before = timed(lambda: before(model, x, **kw))
    now, t_now = timed(lambda: cc.dr_optimised(model, x, progress=False, **kw))
    fast, t_fast = timed(lambda: cc.dr_optimised(model, x, progress=False, early_exit=True, check_every=10, **kw))
    print(f"optimised D_r of {a.samples} low-active samples, {a.steps} steps, batch {a.batch_size}, on {dev}")
    print(f"  before      {t_before:7.1f} s   mean {float(ref.mean()):.4f}")
    print(f"  now         {t_now:7.1f} s   mean {float(now.values.mean()):.4f}   speed-up x{t_before / t_now:.2f}"
          f"   largest difference {float((now.values - ref).abs().max()):.2e}")
    print(f"  early exit  {t_fast:7.1f} s   mean {float(fast.values.mean()):.4f}   speed-up x{t_before / t_fast:.2f}"
          f"   largest difference {float((fast.values - ref).abs().max()):.2e}"
          f"   converged {100 * float(fast.converged.float().mean()):.1f}%")


if __name__ == "__main__":
    main()
