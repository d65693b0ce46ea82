"""The level written into a switched-on unit, as an axis.

The paper never states the value a switched-on unit is set to, and it moves D_r more than any other choice. So
instead of one point, `level_sweep` measures the two switching schemes (low-active and random flip) at a range of
levels, both writing the same level, with the same latents at every level, for one or more k. Regular and noisy
decoding do not depend on the level: they are measured once and drawn as flat lines. Each level is given both in
the layer's units and as a multiple of `high_level` (the default's level), and the references are marked: the
median maximum of the firing units, `high_level` itself, and the paper's D_r for each scheme (a horizontal line:
the paper does not say at what level it was measured, so where a curve crosses it is the level that would match,
not a level the paper names). The text-literal variant (each unit set to its own maximum; random flip among any
units off for the sample) is measured too, as one point per scheme off the axis.

A comparison that does not hang on the level: the paper's claim is "novel *and* meaningful". With a classifier,
every point also gets a meaningfulness score, the in-class confidence (the classifier's largest probability among
the generator's own classes: how clearly the image still reads as one of the things the model was trained on).
Each switching scheme then traces a frontier of (novelty = mean D_r, meaningfulness) over the levels, and
`frontier_comparison` asks whether low-active's frontier lies above random flip's wherever their novelty ranges
overlap: at equal novelty, are low-active's images more meaningful? That answer does not depend on which level
is the default.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .activations import ActivationProfile
from .classifier import predict
from .metrics import dr_amortised
from .sampling import generate
from .schemes import high_level, make_scheme

SWITCHING = ("low_active", "random_flip")
FLAT = ("noisy", "regular")
DEFAULT_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
TEXT_LITERAL = {"low_active": {"value": "unit_max", "candidates": "must_be_off"},
                "random_flip": {"value": "unit_max", "candidates": "off_for_sample"}}
FIELDS = ("kind", "scheme", "k", "level", "level_factor", "n", "dr_amortised_mean", "dr_amortised_sem",
          "ratio_to_regular", "meaning_mean", "meaning_sem")


def in_class_confidence(classifier: nn.Module, images: torch.Tensor, in_classes: Sequence[int] | None,
                        batch_size: int = 1000) -> torch.Tensor:
    """(n,) the classifier's largest probability among `in_classes` (all its classes when None)."""
    probs, _ = predict(classifier, images, batch_size=batch_size)
    if in_classes is not None and max(in_classes) >= probs.shape[1]:
        raise ValueError(f"the classifier knows {probs.shape[1]} classes; the generator's classes "
                         f"{list(in_classes)} are not all among them (give the generator's classes explicitly)")
    if in_classes is not None:
        probs = probs[:, list(in_classes)]
    return probs.max(dim=1).values


def _mean_sem(x: torch.Tensor) -> tuple[float, float]:
    x = x.double()
    return float(x.mean()), float(x.std() / len(x) ** 0.5) if len(x) > 1 else 0.0


def level_sweep(model: nn.Module, profile: ActivationProfile, *, factors: Sequence[float] = DEFAULT_FACTORS,
                k_values: Sequence[int] = (5,), samples: int = 2000, seed: int = 0, batch_size: int = 1000,
                progress: bool = False, log: Callable[[str], None] | None = None,
                classifier: nn.Module | None = None, in_classes: Sequence[int] | None = None) -> list[dict]:
    """Rows (see FIELDS) of mean amortised D_r: `kind` is "curve" (a switching scheme at one level and k),
    "flat" (regular, noisy) or "text_literal" (each unit's own maximum, the paper's literal random flip).
    With a `classifier`, each row also has the mean in-class confidence of its images (`in_classes`: the
    generator's classes among the classifier's)."""
    if not factors or min(factors) <= 0:
        raise ValueError("levels must be positive multiples of the default level")
    if not k_values or min(k_values) < 1:
        raise ValueError("k must be at least 1")
    base = high_level(profile)
    if base <= 0:
        raise ValueError(f"no unit of layer {profile.layer!r} fires on the training data: there is no level to sweep")

    def measure(name: str, **params) -> tuple[int, float, float, float | None, float | None]:
        s = generate(model, profile, make_scheme(name, **params), samples, seed=seed, batch_size=batch_size,
                     progress=progress)
        meaning = (None, None)
        if classifier is not None:
            meaning = _mean_sem(in_class_confidence(classifier, s.images, in_classes, batch_size))
        return len(s), *_mean_sem(dr_amortised(model, s.images, batch_size=batch_size)), *meaning

    rows: list[dict] = []

    def add(kind: str, scheme: str, k, level, factor, measured) -> None:
        n, mean, sem, meaning, meaning_sem = measured
        rows.append({"kind": kind, "scheme": scheme, "k": k, "level": level, "level_factor": factor, "n": n,
                     "dr_amortised_mean": mean, "dr_amortised_sem": sem, "ratio_to_regular": None,
                     "meaning_mean": meaning, "meaning_sem": meaning_sem})
        if log is not None:
            where = "" if level is None else f" level {level:.3f} ({factor:g} x high_level)"
            log(f"{scheme} k={k}{where}: D_r {mean:.3f} +- {sem:.3f}")

    for name in FLAT:
        add("flat", name, None, None, None, measure(name))
    for k in k_values:
        for factor in factors:
            for name in SWITCHING:
                add("curve", name, k, base * factor, factor, measure(name, k=k, value=base * factor))
        for name in SWITCHING:
            add("text_literal", name, k, None, None, measure(name, k=k, **TEXT_LITERAL[name]))
    regular = next(r["dr_amortised_mean"] for r in rows if r["scheme"] == "regular")
    for r in rows:
        r["ratio_to_regular"] = r["dr_amortised_mean"] / regular if regular > 0 else None
    return rows


def write_csv(rows: list[dict], path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: ("" if r[k] is None else r[k]) for k in FIELDS} for r in rows)


def format_table(rows: list[dict]) -> str:
    """Markdown: one line per (k, level) with low-active, random flip and their ratios."""
    flat = {r["scheme"]: r for r in rows if r["kind"] == "flat"}
    lines = [f"Regular {flat['regular']['dr_amortised_mean']:.3f}, noisy {flat['noisy']['dr_amortised_mean']:.3f} "
             "(amortised D_r; neither depends on the level)", "",
             "| k | level written | x high_level | Low-active | Random flip | Low-active / regular | "
             "Low-active / random flip |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    keys = sorted({(r["k"], r["level_factor"]) for r in rows if r["kind"] == "curve"})
    keys += sorted({(r["k"], None) for r in rows if r["kind"] == "text_literal"})
    for k, factor in keys:
        kind = "curve" if factor is not None else "text_literal"
        got = {r["scheme"]: r for r in rows if r["kind"] == kind and r["k"] == k and r["level_factor"] == factor}
        la, rf = got["low_active"], got["random_flip"]
        level = "each unit's own max (text-literal)" if factor is None else f"{la['level']:.3f}"
        lines.append(f"| {k} | {level} | {'' if factor is None else f'{factor:g}'} | "
                     f"{la['dr_amortised_mean']:.3f} ± {la['dr_amortised_sem']:.3f} | "
                     f"{rf['dr_amortised_mean']:.3f} ± {rf['dr_amortised_sem']:.3f} | {la['ratio_to_regular']:.2f} | "
                     f"{la['dr_amortised_mean'] / rf['dr_amortised_mean']:.2f} |")
    return "\n".join(lines)


_K_STYLES = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))


def _k_style(rows: list[dict]) -> dict[int, tuple[str, str]]:
    """k -> (marker, line style): curves of one scheme share a colour, and each k its own marker and line."""
    ks = sorted({r["k"] for r in rows if r["kind"] == "curve"})
    return {k: _K_STYLES[i % len(_K_STYLES)] for i, k in enumerate(ks)}


def plot(rows: list[dict], path: str | Path, *, profile: ActivationProfile,
         paper: dict[str, float] | None = None, title: str = "") -> None:
    """D_r against the level written, one curve per switching scheme and k, flat lines for regular and noisy,
    the paper's values as dashed lines, the default and the median maximum as vertical marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"low_active": "tab:red", "random_flip": "tab:blue", "noisy": "tab:green", "regular": "tab:grey"}
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for k, (marker, line) in _k_style(rows).items():
        for name in SWITCHING:
            pts = sorted((r["level"], r["dr_amortised_mean"]) for r in rows
                         if r["kind"] == "curve" and r["scheme"] == name and r["k"] == k)
            ax.plot(*zip(*pts, strict=True), marker=marker, ls=line, color=colours[name], label=f"{name} (k={k})")
    for r in rows:
        if r["kind"] == "flat":
            ax.axhline(r["dr_amortised_mean"], color=colours[r["scheme"]], lw=1, label=r["scheme"])
    for name, value in (paper or {}).items():
        if name in colours:
            ax.axhline(value, color=colours[name], lw=1, ls="--", label=f"paper: {name}")
    base = high_level(profile)
    maxima = profile.max[profile.max > 0]
    ax.axvline(base, color="black", lw=0.8, ls=":", label="default (high_level)")
    if len(maxima):
        ax.axvline(float(np.median(maxima)), color="black", lw=0.8, ls="-.", label="median max of firing units")
    ax.set_xlabel("level written into a switched-on unit")
    ax.set_ylabel("mean amortised D_r")
    ax.set_title(title or "D_r against the level written (the paper does not state it)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _frontier(rows: list[dict], scheme: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((r["dr_amortised_mean"], r["meaning_mean"]) for r in rows
                 if r["kind"] == "curve" and r["scheme"] == scheme and r["k"] == k)
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def frontier_comparison(rows: list[dict], k: int = 5, grid: int = 50) -> dict:
    """Low-active against random flip at equal novelty: each frontier (meaningfulness against mean D_r over the
    levels) is interpolated linearly on `grid` points of the novelty range both cover. Returns the range, the
    share of it where low-active is at least as meaningful, the mean and smallest gap (low-active minus random
    flip), and a verdict: "low-active dominates" (above everywhere), "random flip dominates", "they cross" or
    "no overlap" (the schemes' novelty ranges do not meet: measure more levels)."""
    if any(r["meaning_mean"] is None for r in rows if r["kind"] == "curve"):
        raise ValueError("the sweep was run without a classifier: there is no meaningfulness to compare")
    la, rf = _frontier(rows, "low_active", k), _frontier(rows, "random_flip", k)
    low, high = max(la[0].min(), rf[0].min()), min(la[0].max(), rf[0].max())
    if not high > low:
        return {"k": k, "novelty_low": None, "novelty_high": None, "share_above": None, "mean_gap": None,
                "smallest_gap": None, "verdict": "no overlap"}
    x = np.linspace(low, high, grid)
    gap = np.interp(x, *la) - np.interp(x, *rf)
    share = float((gap >= 0).mean())
    verdict = ("low-active dominates" if share == 1.0 else "random flip dominates" if share == 0.0
               else "they cross")
    return {"k": k, "novelty_low": float(low), "novelty_high": float(high), "share_above": share,
            "mean_gap": float(gap.mean()), "smallest_gap": float(gap.min()), "verdict": verdict}


def plot_frontier(rows: list[dict], path: str | Path, *, title: str = "") -> None:
    """Meaningfulness (in-class confidence) against novelty (mean D_r): each switching scheme's frontier over
    the levels, regular and noisy as single points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"low_active": "tab:red", "random_flip": "tab:blue", "noisy": "tab:green", "regular": "tab:grey"}
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for k, (marker, line) in _k_style(rows).items():
        for name in SWITCHING:
            x, y = _frontier(rows, name, k)
            ax.plot(x, y, marker=marker, ls=line, color=colours[name], label=f"{name} (k={k})")
    for r in rows:
        if r["kind"] == "flat":
            ax.plot([r["dr_amortised_mean"]], [r["meaning_mean"]], marker="s", color=colours[r["scheme"]],
                    ls="none", label=r["scheme"])
    ax.set_xlabel("novelty: mean amortised D_r")
    ax.set_ylabel("meaningfulness: in-class confidence")
    ax.set_title(title or "Novelty against meaningfulness over the level written")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def mean_dr(model: nn.Module, profile: ActivationProfile, scheme: str, params: dict, samples: int, seed: int,
            batch_size: int = 1000) -> float:
    """Mean amortised D_r of samples 0..samples-1 of `seed` under the scheme."""
    s = generate(model, profile, make_scheme(scheme, **params), samples, seed=seed, batch_size=batch_size,
                 progress=False)
    return float(dr_amortised(model, s.images, batch_size=batch_size).double().mean())


def match_level(model: nn.Module, profile: ActivationProfile, scheme: str, target: float, *,
                params: dict | None = None, samples: int = 1000, seed: int = 0, rel_tol: float = 0.01,
                max_steps: int = 30, batch_size: int = 1000) -> tuple[float, float]:
    """(level, mean D_r): the level `scheme` (a switching scheme) must write for its mean amortised D_r over
    samples 0..samples-1 of `seed` to be within `rel_tol` of `target`, by bisection (D_r rises with the level;
    the same latents and units at every level). ValueError when no level in reach gets there (a target below the
    scheme's D_r at a level near 0, or above what 64 x the default level gives)."""
    if scheme not in SWITCHING:
        raise ValueError(f"only a switching scheme writes a level ({', '.join(SWITCHING)}), not {scheme!r}")
    params = {k: v for k, v in (params or {}).items() if k != "value"}

    def at(level: float) -> float:
        return mean_dr(model, profile, scheme, {**params, "value": level}, samples, seed, batch_size)

    lo, hi = 1e-3 * high_level(profile), high_level(profile)  # a level must be positive: start just above 0
    d_lo, d_hi = at(lo), at(hi)
    if target < d_lo * (1 - rel_tol):
        raise ValueError(f"{scheme} already has mean D_r {d_lo:.3f} at level {lo:.4f}, above the target {target:.3f}")
    while d_hi < target and hi < 64 * high_level(profile):
        lo, d_lo, hi = hi, d_hi, hi * 2
        d_hi = at(hi)
    if d_hi < target * (1 - rel_tol):
        raise ValueError(f"{scheme} reaches mean D_r {d_hi:.3f} at level {hi:.2f}, short of the target {target:.3f}")
    best = min(((lo, d_lo), (hi, d_hi)), key=lambda p: abs(p[1] - target))
    for _ in range(max_steps):
        if abs(best[1] - target) <= rel_tol * target:
            break
        mid = (lo + hi) / 2
        d_mid = at(mid)
        if abs(d_mid - target) < abs(best[1] - target):
            best = (mid, d_mid)
        lo, hi = (mid, hi) if d_mid < target else (lo, mid)
    return best
