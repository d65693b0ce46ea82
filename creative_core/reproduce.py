"""Reproduce the D_r column of the paper's Table 1 on one data set: train (or load), profile, generate
`samples` images per scheme with default parameters, measure amortised and optimised D_r, and write
results.csv, params.json, model.pt and one PNG grid per scheme into `out`.

`reproduce_all` runs the three data sets in turn (one sub-folder each) and writes one combined table; every
stage (training, profiling, each scheme's samples and D_r) reports when it ends and how long it took."""

from __future__ import annotations

import csv
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ._version import __version__
from .activations import profile as run_profile
from .checkpoint import load_checkpoint, save_checkpoint
from .fetch import default_data_root, fetch_data
from .images import image_grid
from .metrics import dr_amortised, dr_optimised
from .sampling import generate
from .schemes import make_scheme
from .training import train

# Table 1 of the paper, D_r column, in its row order.
PAPER_DR = {
    "mnist": {"low_active": 4.87, "noisy": 1.78, "random_flip": 4.21, "regular": 1.45},
    "fmnist": {"low_active": 5.49, "noisy": 1.91, "random_flip": 4.93, "regular": 1.22},
    "mnist+fmnist": {"low_active": 4.91, "noisy": 1.97, "random_flip": 4.68, "regular": 1.59},
}
ROW_ORDER = ("low_active", "noisy", "random_flip", "regular", "interpolation")
LABELS = {"low_active": "Low-active", "noisy": "Noisy", "random_flip": "Random flip", "regular": "Regular",
          "interpolation": "Interpolation"}


def format_table(dataset: str, rows: list[dict]) -> str:
    lines = [f"D_r on {dataset} (mean +- s.e.m.; amortised = ||x - decode(enc_mean(x))||_2, the paper's reading)",
             f"{'Scheme':<12} {'paper':>6} {'amortised':>16} {'optimised':>16} {'converged':>9} {'n (amort/opt)':>14}"]
    for r in rows:
        paper = "" if r["paper_dr"] is None else f"{r['paper_dr']:.2f}"
        lines.append(f"{LABELS[r['scheme']]:<12} {paper:>6} {r['dr_amortised_mean']:>9.3f} +- {r['dr_amortised_sem']:.3f}"
                     f" {r['dr_optimised_mean']:>9.3f} +- {r['dr_optimised_sem']:.3f}"
                     f" {100 * r['optimised_converged']:>8.1f}%"
                     f" {r['n_amortised']:>7}/{r['n_optimised']}")
    return "\n".join(lines)


def _mean_sem(x: torch.Tensor) -> tuple[float, float]:
    x = x.double()
    return float(x.mean()), float(x.std() / max(len(x), 1) ** 0.5) if len(x) > 1 else 0.0


def reproduce(dataset: str, *, checkpoint: str | Path | None = None, epochs: int = 15, samples: int = 10_000,
              optimised_samples: int | None = None, seed: int = 0, out: str | Path | None = None,
              root: str | Path | None = None, device: str | None = None, batch_size: int = 1000,
              steps: int = 200, lr: float = 0.05, tol: float = 1e-4, limit: int | None = None,
              progress: bool = True, early_exit: bool = False, check_every: int = 1,
              log: Callable[[str], None] | None = None) -> list[dict]:
    """Run the whole pipeline for `dataset`; returns one row per scheme (also written to out/results.csv).

    `log(line)` hears of each stage as it ends, with its time (they are also in params.json, "stages").
    `early_exit` and `check_every` go to dr_optimised.
    """
    t0 = time.time()
    stages: dict[str, float] = {}
    mark = [t0]

    def stage(name: str) -> None:
        now = time.time()
        stages[name] = now - mark[0]
        mark[0] = now
        if log is not None:
            log(f"[{dataset}] {name}: {stages[name]:.1f} s")

    out = Path(out or f"runs/reproduce-{dataset.replace('+', '-')}")
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else default_data_root()
    opt_n = samples if optimised_samples is None else min(optimised_samples, samples)
    if not dataset.startswith("folder:"):
        fetch_data(root, datasets=[dataset], progress=progress)
    ckpt_path = Path(checkpoint) if checkpoint else out / "model.pt"
    if checkpoint:
        ck = load_checkpoint(checkpoint, device=device)
        model, meta, prof = ck.model, ck.meta, ck.profile
    else:
        trained = train(dataset, epochs=epochs, seed=seed, device=device, root=root, limit=limit, progress=progress)
        model, meta, prof = trained.model, trained.meta, None
        save_checkpoint(ckpt_path, model, meta)
    t_train = time.time() - t0
    stage("load" if checkpoint else f"train ({epochs} epochs)")
    if prof is None:
        prof = run_profile(model, meta.get("dataset", dataset), root=root, limit=limit, progress=progress,
                           batch_size=batch_size)
        save_checkpoint(ckpt_path, model, meta, prof)
        stage("profile")
    rows, schemes = [], {}
    for name in ROW_ORDER:
        scheme = make_scheme(name)
        # Interpolation (the paper's fifth baseline) decodes between two training images' latents: it reads the
        # same training images the model saw.
        s = generate(model, prof, scheme, samples, seed=seed, batch_size=batch_size, progress=progress,
                     dataset=meta.get("dataset", dataset), root=root, limit=limit)
        amort = dr_amortised(model, s.images, batch_size=batch_size)
        stage(f"{name}: {samples} samples + amortised D_r")
        opt = dr_optimised(model, s.images[:opt_n], steps=steps, lr=lr, tol=tol, batch_size=batch_size,
                           progress=progress, early_exit=early_exit, check_every=check_every, starts=[s.z[:opt_n]])
        stage(f"{name}: optimised D_r of {opt_n}")
        image_grid(s.images[:100], nrow=10).save(out / f"grid_{name}.png")
        am, asem = _mean_sem(amort)
        om, osem = _mean_sem(opt.values)
        rows.append({"dataset": dataset, "scheme": name, "paper_dr": PAPER_DR.get(dataset, {}).get(name),
                     "dr_amortised_mean": am, "dr_amortised_sem": asem, "dr_optimised_mean": om,
                     "dr_optimised_sem": osem, "optimised_converged": float(opt.converged.float().mean()),
                     "optimised_steps": opt.steps, "n_amortised": len(amort), "n_optimised": len(opt.values)})
        schemes[name] = {"params": {k: list(v) if isinstance(v, tuple) else v for k, v in s.params.items()},
                         "derived": s.info, "layer": s.layer}
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    params = {"library_version": __version__, "dataset": dataset, "checkpoint": str(ckpt_path), "seed": seed,
              "samples_per_scheme": samples, "limit": limit, "optimised_samples_per_scheme": opt_n,
              "dr_optimised": {"steps": steps, "lr": lr, "tol": tol, "optimizer": "Adam, from the encoder mean and from the generating latent (best kept)",
                               "early_exit": early_exit, "check_every": check_every},
              "batch_size": batch_size, "model_meta": meta,
              "profile": {"layer": prof.layer, "n_samples": prof.n_samples, "n_units": prof.n_units,
                          "units_never_firing": int((prof.percent_active == 0).sum())},
              "schemes": schemes, "seconds_total": time.time() - t0, "seconds_train_or_load": t_train,
              "stages": stages}
    (out / "params.json").write_text(json.dumps(params, indent=2, default=str))
    (out / "table.txt").write_text(format_table(dataset, rows) + "\n")
    return rows


ALL_DATASETS = ("mnist", "fmnist", "mnist+fmnist")


def format_combined(rows: list[dict], seconds: dict[str, float]) -> str:
    """One table for several data sets: D_r per scheme, the low-active / regular ratio, and each set's time."""
    lines = ["D_r (mean +- s.e.m.; amortised = the paper's reading, optimised = min over z)",
             f"{'Data set':<13} {'Scheme':<12} {'paper':>6} {'amortised':>16} {'optimised':>16} {'converged':>9}"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        for r in mine:
            paper = "" if r["paper_dr"] is None else f"{r['paper_dr']:.2f}"
            lines.append(f"{dataset:<13} {LABELS[r['scheme']]:<12} {paper:>6}"
                         f" {r['dr_amortised_mean']:>9.3f} +- {r['dr_amortised_sem']:.3f}"
                         f" {r['dr_optimised_mean']:>9.3f} +- {r['dr_optimised_sem']:.3f}"
                         f" {100 * r['optimised_converged']:>8.1f}%")
        by = {r["scheme"]: r for r in mine}
        if "low_active" in by and "regular" in by:
            ratio = by["low_active"]["dr_amortised_mean"] / by["regular"]["dr_amortised_mean"]
            paper = PAPER_DR.get(dataset, {})
            p = f" (paper {paper['low_active'] / paper['regular']:.2f})" if paper else ""
            lines.append(f"{dataset:<13} low-active / regular (amortised) {ratio:.2f}{p}; "
                         f"took {seconds.get(dataset, 0):.0f} s")
    lines.append(f"total {sum(seconds.values()):.0f} s")
    return "\n".join(lines)


def reproduce_all(datasets: tuple[str, ...] = ALL_DATASETS, *, out: str | Path | None = None,
                  log: Callable[[str], None] | None = None, **kwargs) -> tuple[list[dict], dict[str, float]]:
    """reproduce() on each data set (into out/<data set>/), then out/results.csv and out/table.txt for all.

    Returns (rows of every data set, seconds per data set). kwargs go to reproduce (no checkpoint: each set
    trains its own model)."""
    if kwargs.get("checkpoint"):
        raise ValueError("reproduce_all trains one model per data set; it takes no checkpoint")
    out = Path(out or "runs/reproduce-all")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    seconds: dict[str, float] = {}
    for i, dataset in enumerate(datasets, 1):
        if log is not None:
            log(f"== data set {i}/{len(datasets)}: {dataset}")
        t = time.time()
        rows += reproduce(dataset, out=out / dataset.replace("+", "-"), log=log, **kwargs)
        seconds[dataset] = time.time() - t
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "table.txt").write_text(format_combined(rows, seconds) + "\n")
    return rows, seconds


RATIOS = (("low_active", "regular"), ("random_flip", "regular"), ("low_active", "random_flip"))


def _across(values: list[float], confidence: float = 0.95) -> dict:
    """Mean, s.d. and a t interval for the mean over models (None where one model gives no spread)."""
    from scipy import stats

    x = torch.tensor(values, dtype=torch.float64)
    n = len(values)
    mean = float(x.mean())
    if n < 2:
        return {"n_models": n, "mean": mean, "sd": None, "low": None, "high": None}
    sd = float(x.std())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / n ** 0.5
    return {"n_models": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def across_seeds(rows: list[dict]) -> list[dict]:
    """Rows of several training seeds (each with "seed") -> one row per data set and quantity: each scheme's mean
    amortised and optimised D_r and each ratio, as mean, s.d. and 95% t interval across the models, beside the
    largest per-model standard error (the spread within one model, which says nothing about a second model)."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        by_seed: dict[int, dict[str, dict]] = {}
        for r in mine:
            by_seed.setdefault(r["seed"], {})[r["scheme"]] = r
        for name in ROW_ORDER:
            for col in ("dr_amortised", "dr_optimised"):
                vals = [s[name][f"{col}_mean"] for s in by_seed.values() if name in s]
                sems = [s[name][f"{col}_sem"] for s in by_seed.values() if name in s]
                out.append({"dataset": dataset, "quantity": f"{name} {col}", "paper": PAPER_DR.get(dataset, {}).get(
                    name) if col == "dr_amortised" else None, **_across(vals), "largest_model_sem": max(sems)})
        for a, b in RATIOS:
            vals = [s[a]["dr_amortised_mean"] / s[b]["dr_amortised_mean"] for s in by_seed.values()
                    if a in s and b in s]
            paper = PAPER_DR.get(dataset, {})
            out.append({"dataset": dataset, "quantity": f"{a} / {b} (amortised)",
                        "paper": paper[a] / paper[b] if a in paper and b in paper else None, **_across(vals),
                        "largest_model_sem": None})
    return out


def format_seeds(summary: list[dict]) -> str:
    """Markdown: each quantity's mean +- s.d. across models with its 95% interval."""
    lines = ["| Data set | Quantity | paper | models | mean ± s.d. across models | 95% interval | "
             "largest s.e. within a model |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in summary:
        paper = "" if r["paper"] is None else f"{r['paper']:.2f}"
        spread = f"{r['mean']:.3f}" + ("" if r["sd"] is None else f" ± {r['sd']:.3f}")
        interval = "" if r["low"] is None else f"[{r['low']:.3f}, {r['high']:.3f}]"
        sem = "" if r["largest_model_sem"] is None else f"{r['largest_model_sem']:.3f}"
        lines.append(f"| {r['dataset']} | {r['quantity']} | {paper} | {r['n_models']} | {spread} | {interval} | {sem} |")
    return "\n".join(lines)


def _finished_run(folder: Path, dataset: str, seed: int, kwargs: dict) -> list[dict] | None:
    """The rows of a finished reproduce() in `folder` when it ran with these settings, else None (run it again)."""
    try:
        params = json.loads((folder / "params.json").read_text())
        with open(folder / "results.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError):
        return None
    # The settings as reproduce() would use them: its own defaults, then what was asked for.
    a = {name: p.default for name, p in inspect.signature(reproduce).parameters.items()} | kwargs
    opt_n = a["samples"] if a["optimised_samples"] is None else min(a["optimised_samples"], a["samples"])
    wanted = {"dataset": dataset, "seed": seed, "library_version": __version__, "samples_per_scheme": a["samples"],
              "optimised_samples_per_scheme": opt_n, "limit": a["limit"], "batch_size": a["batch_size"]}
    optimiser = params.get("dr_optimised", {})
    if (any(params.get(k) != v for k, v in wanted.items())
            or any(optimiser.get(k) != a[k] for k in ("steps", "lr", "tol", "early_exit", "check_every"))
            or params.get("model_meta", {}).get("epochs") != a["epochs"]
            or [r["scheme"] for r in rows] != list(ROW_ORDER)):
        return None
    return [{k: _cell(k, v) for k, v in r.items()} for r in rows]


def _cell(key: str, value: str) -> str | int | float | None:
    """A results.csv cell back as reproduce() returned it."""
    if key in ("dataset", "scheme"):
        return value
    if value == "":
        return None
    return int(value) if key in ("optimised_steps", "n_amortised", "n_optimised") else float(value)


def reproduce_seeds(datasets: tuple[str, ...], seeds: list[int], *, out: str | Path | None = None,
                    log: Callable[[str], None] | None = None, resume: bool = False,
                    **kwargs) -> tuple[list[dict], list[dict]]:
    """reproduce() for every data set and training seed (into out/<data set>/seed-<s>/), then the spread across
    models: out/results.csv (every model's rows, with their seed), out/across_seeds.csv and out/table.md.
    Returns (rows, summary). Seed-to-seed variation is far larger than a model's standard error, so a comparison
    with the paper needs the interval across models.

    `resume`: a seed whose folder already holds a finished run with the same settings (params.json) is kept, not
    trained again, so an interrupted run goes on where it stopped, and seeds run apart (e.g. `--seed 1 --seeds 1
    --out OUT/<data set>/seed-1`, one per core) are gathered into one table."""
    if kwargs.get("checkpoint"):
        raise ValueError("several seeds train one model each; leave out the checkpoint")
    out = Path(out or "runs/reproduce-seeds")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for dataset in datasets:
        for seed in seeds:
            if log is not None:
                log(f"== {dataset}, training seed {seed}")
            folder = out / dataset.replace("+", "-") / f"seed-{seed}"
            got = _finished_run(folder, dataset, seed, kwargs) if resume else None
            if got is not None:
                if log is not None:
                    log(f"[{dataset}] seed {seed}: kept the finished run in {folder} (same settings)")
            else:
                got = reproduce(dataset, seed=seed, out=folder, log=log, **kwargs)
            rows += [{**r, "seed": seed} for r in got]
    summary = across_seeds(rows)
    for name, data in (("results.csv", rows), ("across_seeds.csv", summary)):
        with open(out / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(data[0]))
            w.writeheader()
            w.writerows(data)
    (out / "table.md").write_text(format_seeds(summary) + "\n")
    return rows, summary
