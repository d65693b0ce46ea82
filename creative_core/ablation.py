"""The ablation of the choices the paper leaves unstated (what value a switched-on unit gets, random flip's
candidate units, whether low-active's units must be off): for each variant, mean D_r +- s.e. per scheme on one
model, and the low-active / regular ratio.

Regular and noisy decoding do not depend on any of these choices, so they are measured once and shown in every
row; random flip and low-active are measured per variant. Every variant uses the same seed, hence the same latents.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

from .activations import profile as run_profile
from .checkpoint import load_checkpoint, save_checkpoint
from .fetch import default_data_root, fetch_data
from .metrics import dr_amortised, dr_optimised
from .reproduce import LABELS, ROW_ORDER, _mean_sem
from .sampling import generate
from .schemes import make_scheme
from .training import train

# name -> (what it changes, random flip's parameters, low-active's parameters). "today" is the default of both.
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "today": ("defaults: each unit's own training maximum; random flip among all units off for the sample; "
              "low-active units whether on or off", {}, {}),
    "value=percentile": ("value: the 99th percentile of the unit's active values",
                         {"value": "percentile"}, {"value": "percentile"}),
    "value=high_level": ("value: one level for every unit, the mean maximum of the layer's top decile of units",
                         {"value": "high_level"}, {"value": "high_level"}),
    "flip=fires_sometimes": ("random flip only among units off for the sample that fire at least once in training",
                             {"candidates": "fires_sometimes"}, {}),
    "low=must_be_off": ("low-active units must be off for the sample", {}, {"candidates": "must_be_off"}),
    "all three": ("high_level value, flip among firing units, low-active units off",
                  {"value": "high_level", "candidates": "fires_sometimes"},
                  {"value": "high_level", "candidates": "must_be_off"}),
}
DATASET_ALIASES = {"mnist": "mnist", "fashion": "fmnist", "fmnist": "fmnist", "combined": "mnist+fmnist",
                   "mnist+fmnist": "mnist+fmnist"}
VARIED = ("random_flip", "low_active")


def _cell(mean: float | None, sem: float | None) -> str:
    return "" if mean is None else f"{mean:.3f} ± {sem:.3f}"


def format_markdown(dataset: str, rows: list[dict], optimised: bool) -> str:
    """One markdown table: a row per variant, amortised (and optimised) D_r per scheme, low-active / regular."""
    schemes = [s for s in ROW_ORDER if any(r["scheme"] == s for r in rows)]
    kinds = ["amortised", "optimised"] if optimised else ["amortised"]
    head = ["Variant"] + [f"{LABELS[s]} ({k})" for s in schemes for k in kinds] + ["Low-active / regular (amortised)"]
    lines = [f"D_r on {dataset}, mean ± s.e.", "", "| " + " | ".join(head) + " |",
             "| --- |" + " ---: |" * (len(head) - 1)]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        by = {r["scheme"]: r for r in rows if r["variant"] == variant}
        cells = [variant]
        for s in schemes:
            for k in kinds:
                r = by.get(s)
                cells.append("" if r is None else _cell(r[f"dr_{k}_mean"], r[f"dr_{k}_sem"]))
        ratio = by.get("low_active", {}).get("ratio_low_active_regular")
        cells.append("" if ratio is None else f"{ratio:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation(dataset: str, *, variants: list[str] | None = None, checkpoint: str | Path | None = None,
             epochs: int = 15, samples: int = 10_000, optimised_samples: int = 0, seed: int = 0,
             out: str | Path | None = None, root: str | Path | None = None, device: str | None = None,
             batch_size: int = 1000, steps: int = 200, lr: float = 0.05, tol: float = 1e-4, limit: int | None = None,
             progress: bool = True, log: Callable[[str], None] | None = None) -> list[dict]:
    """Train (or load) a model on `dataset`, then measure every variant; writes out/ablation.csv and out/table.md
    (and out/model.pt when it trains) and returns the rows (one per variant and scheme).

    `optimised_samples` > 0 also measures the optimised D_r on that many samples per scheme and variant."""
    dataset = DATASET_ALIASES.get(dataset, dataset)
    names = list(VARIANTS) if variants is None else list(variants)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r}; allowed: {', '.join(VARIANTS)}")
    mark = [time.time()]

    def stage(name: str) -> None:
        now = time.time()
        if log is not None:
            log(f"[{dataset}] {name}: {now - mark[0]:.1f} s")
        mark[0] = now

    out = Path(out or f"runs/ablation-{dataset.replace('+', '-')}")
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else default_data_root()
    if not dataset.startswith("folder:"):
        fetch_data(root, datasets=[dataset], progress=progress)
    if checkpoint:
        ck = load_checkpoint(checkpoint, device=device)
        model, meta, prof = ck.model, ck.meta, ck.profile
        stage("load")
    else:
        trained = train(dataset, epochs=epochs, seed=seed, device=device, root=root, limit=limit, progress=progress)
        model, meta, prof = trained.model, trained.meta, None
        stage(f"train ({epochs} epochs)")
    if prof is None or prof.p99_active is None:  # older profiles lack the percentile the variants need
        prof = run_profile(model, meta.get("dataset", dataset), root=root, limit=limit, progress=progress,
                           batch_size=batch_size)
        stage("profile")
    if not checkpoint:
        save_checkpoint(out / "model.pt", model, meta, prof)
    opt_n = min(optimised_samples, samples)

    def measure(variant: str, name: str, params: dict) -> dict:
        s = generate(model, prof, make_scheme(name, **params), samples, seed=seed, batch_size=batch_size,
                     progress=progress)
        am, asem = _mean_sem(dr_amortised(model, s.images, batch_size=batch_size))
        row = {"dataset": dataset, "variant": variant, "scheme": name,
               "params": " ".join(f"{k}={v}" for k, v in params.items()), "n_amortised": samples,
               "dr_amortised_mean": am, "dr_amortised_sem": asem, "n_optimised": opt_n,
               "dr_optimised_mean": None, "dr_optimised_sem": None}
        stage(f"{variant} / {name}: {samples} samples + amortised D_r")
        if opt_n > 0:
            opt = dr_optimised(model, s.images[:opt_n], steps=steps, lr=lr, tol=tol, batch_size=batch_size,
                               progress=progress)
            row["dr_optimised_mean"], row["dr_optimised_sem"] = _mean_sem(opt.values)
            stage(f"{variant} / {name}: optimised D_r of {opt_n}")
        return row

    fixed = {name: measure("(every variant)", name, {}) for name in ("regular", "noisy")}
    rows: list[dict] = []
    for variant in names:
        _what, flip, low = VARIANTS[variant]
        mine = {**{n: {**r, "variant": variant} for n, r in fixed.items()},
                "random_flip": measure(variant, "random_flip", flip), "low_active": measure(variant, "low_active", low)}
        reg = mine["regular"]["dr_amortised_mean"]
        for name in ROW_ORDER:
            r = mine[name]
            r["ratio_low_active_regular"] = (mine["low_active"]["dr_amortised_mean"] / reg
                                             if name == "low_active" and reg > 0 else None)
            rows.append(r)
    with open(out / "ablation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "table.md").write_text(format_markdown(dataset, rows, opt_n > 0) + "\n")
    return rows
