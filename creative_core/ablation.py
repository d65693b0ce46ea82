"""The ablation of the choices the paper leaves unstated (what value a switched-on unit gets, random flip's
candidate units, whether low-active's units must be off): for each variant, mean D_r +- s.e. per scheme on one
model, and the low-active / regular ratio.

Regular and noisy decoding do not depend on any of these choices, so they are measured once and shown in every
row; random flip and low-active are measured per variant. Every variant uses the same seed, hence the same latents.

The layer axis: the paper switches units on in the decoder's 3rd hidden layer (the main layer here) and says
modifying lower layers "also produced a variety of creative results". Each further layer asked for is profiled on
the training data (a profile belongs to one layer) and gets its own noisy, random flip and low-active rows for a
subset of the variants; regular decoding leaves every layer alone, so its one measurement is shared by all rows.

The table and the CSV state the model's quality: its test ELBO (with the floor the grey-level test images put on
it, see training.py), epochs and training images, so a D_r can be read against how well the model fits.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

from torch import nn

from .activations import ActivationProfile
from .activations import profile as run_profile
from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import load_dataset
from .fetch import default_data_root, fetch_data
from .layers import hidden_layer_names, resolve_layer
from .metrics import dr_amortised, dr_optimised
from .reproduce import LABELS, ROW_ORDER, _mean_sem
from .sampling import generate
from .schemes import check_schemes, make_scheme
from .training import bce_floor, held_out_split, train

# name -> (what it changes, random flip's parameters, low-active's parameters). Every variant names all of its
# choices, so a row means the same whatever the defaults; "all three" is the default of both schemes.
_RF0 = {"value": "unit_max", "candidates": "off_for_sample"}
_LA0 = {"value": "unit_max", "candidates": "band"}
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "original": ("the first choices: each unit's own training maximum; random flip among all units off for the "
                 "sample; low-active units whether on or off", _RF0, _LA0),
    "value=percentile": ("value: the 99th percentile of the unit's active values",
                         {**_RF0, "value": "percentile"}, {**_LA0, "value": "percentile"}),
    "value=high_level": ("value: one level for every unit, the mean maximum of the layer's top decile of units",
                         {**_RF0, "value": "high_level"}, {**_LA0, "value": "high_level"}),
    "flip=fires_sometimes": ("random flip only among units off for the sample that fire at least once in training",
                             {**_RF0, "candidates": "fires_sometimes"}, _LA0),
    "low=must_be_off": ("low-active units must be off for the sample", _RF0, {**_LA0, "candidates": "must_be_off"}),
    "all three": ("the default: high_level value, flip among firing units, low-active units off",
                  {"value": "high_level", "candidates": "fires_sometimes"},
                  {"value": "high_level", "candidates": "must_be_off"}),
}
DATASET_ALIASES = {"mnist": "mnist", "fashion": "fmnist", "fmnist": "fmnist", "combined": "mnist+fmnist",
                   "mnist+fmnist": "mnist+fmnist"}
VARIED = ("random_flip", "low_active")
LAYER_VARIANTS = ("original", "all three")  # measured at the further layers unless told otherwise
ALL_LAYERS = "all"  # as a layer: every hidden layer of the decoder


def _cell(mean: float | None, sem: float | None) -> str:
    return "" if mean is None else f"{mean:.3f} ± {sem:.3f}"


def model_quality(meta: dict, *, root: str | Path | None = None) -> dict:
    """What the table says of the model: test ELBO and its floor, epochs, training and test images (counted again
    from the data when a checkpoint trained before they were recorded lacks them)."""
    dataset, limit = meta.get("dataset"), meta.get("limit")
    shape = meta.get("input_shape") or [3, 64, 64]
    kw = {"root": root, "limit": limit, "channels": shape[0], "image_size": shape[-1]}
    n_train, n_test, floor = meta.get("n_train"), meta.get("n_test"), meta.get("test_bce_floor")
    if dataset and n_train is None:
        n_train = len(load_dataset(dataset, train=True, **kw))  # type: ignore[arg-type]
    if dataset and (n_test is None or floor is None):
        test = held_out_split(dataset, **kw)
        n_test, floor = len(test), bce_floor(test)  # type: ignore[arg-type]
    return {"arch": meta.get("arch"), "latent_dim": meta.get("latent_dim"), "dataset": dataset,
            "test_elbo": meta.get("test_elbo"), "test_bce_floor": floor, "epochs": meta.get("epochs"),
            "n_train": n_train, "n_test": n_test, "seed": meta.get("seed"),
            "until_converged": meta.get("until_converged"), "test_elbo_curve": meta.get("test_elbo_curve")}


def _num(v, spec: str) -> str:
    return "?" if v is None else format(v, spec)


def describe_model(q: dict) -> list[str]:
    """The model's lines of the table's header."""
    uc = q.get("until_converged")
    how = (f"until the test ELBO converged, {_num(q['epochs'], 'd')} epochs (at most {uc['max_epochs']}; rule: stop "
           f"after {uc['patience']} epochs in a row without a gain of more than {uc['min_delta']:g} nats, "
           f"{'met' if uc['stopped'] else 'not met, the maximum ended it'}; the last epoch's weights, the best test "
           f"ELBO was epoch {uc['best_epoch']}'s)" if uc else f"for {_num(q['epochs'], 'd')} epochs")
    lines = [f"Model: {q['arch'] or '?'} VAE, z = {_num(q['latent_dim'], 'd')}, trained {how} on "
             f"{_num(q['n_train'], ',d')} {q['dataset']} training images (seed {_num(q['seed'], 'd')}). "
             f"Test ELBO {_num(q['test_elbo'], '.2f')} nats per image on {_num(q['n_test'], ',d')} held-out test "
             "images (one z sample; Bernoulli likelihood, i.e. BCE, on grey-level pixels in [0, 1], not binarised: "
             f"a perfect reconstruction still costs the pixels' own entropy, {_num(q['test_bce_floor'], '.2f')} "
             "nats, so the ELBO is at most minus that)."]
    if q.get("test_elbo_curve"):
        lines.append("Test ELBO after each epoch: " + ", ".join(f"{v:.2f}" for v in q["test_elbo_curve"]))
    return lines


def _layer_cell(r: dict) -> str:
    return f"{r['layer']} ({r['units']:,})"


def format_markdown(dataset: str, rows: list[dict], optimised: bool, quality: dict | None = None) -> str:
    """One markdown table: a row per layer and variant, amortised (and optimised) D_r per scheme, low-active /
    regular; above it the model's quality when given."""
    schemes = [s for s in ROW_ORDER if any(r["scheme"] == s for r in rows)]
    kinds = ["amortised", "optimised"] if optimised else ["amortised"]
    head = ["Layer", "Variant"] + [f"{LABELS[s]} ({k})" for s in schemes for k in kinds] + [
        "Low-active / regular (amortised)"]
    lines = [f"D_r on {dataset}, mean ± s.e.", ""]
    if quality is not None:
        lines += [*describe_model(quality), ""]
    lines += ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for layer, variant in dict.fromkeys((r["layer"], r["variant"]) for r in rows):
        by = {r["scheme"]: r for r in rows if r["layer"] == layer and r["variant"] == variant}
        cells = [_layer_cell(next(iter(by.values()))), variant]
        for s in schemes:
            for k in kinds:
                r = by.get(s)
                cells.append("" if r is None else _cell(r[f"dr_{k}_mean"], r[f"dr_{k}_sem"]))
        ratio = by.get("low_active", {}).get("ratio_low_active_regular")
        cells.append("" if ratio is None else f"{ratio:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _variants(names: list[str] | tuple[str, ...] | None, default: tuple[str, ...]) -> list[str]:
    names = list(default if names is None else names)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r}; allowed: {', '.join(VARIANTS)}")
    return names


def further_layers(model: nn.Module, main: str, layers: list[str | int] | None) -> list[str]:
    """The qualified names of the layers asked for besides `main`, in the decoder's order (`"all"`: every hidden
    layer); ValueError, listing the hidden layers, for one that is not found."""
    if not layers:
        return []
    names = hidden_layer_names(model)
    asked: set[str] = set()
    for layer in layers:
        if layer == ALL_LAYERS:
            asked.update(names)
        else:
            asked.add(resolve_layer(model, layer)[0])
    asked.discard(main)
    return [n for n in names if n in asked] + sorted(asked - set(names))


def check_layer(profile: ActivationProfile, variants: list[str]) -> None:
    """ValueError when random flip or low-active cannot run at the profile's layer under one of the variants
    (k larger than the layer, its firing units or its low-active band): refused before any sample is drawn."""
    for variant in variants:
        _what, flip, low = VARIANTS[variant]
        problems = check_schemes({"random_flip": flip, "low_active": low}, profile.n_units, profile)
        if problems:
            name, why = next(iter(problems.items()))
            raise ValueError(f"layer {profile.layer!r} ({profile.n_units:,} units) is too small for variant "
                             f"{variant!r}: {name}: {why}")


def default_out(dataset: str) -> Path:
    """Where ablation() writes unless told: runs/ablation-<data set>."""
    return Path(f"runs/ablation-{DATASET_ALIASES.get(dataset, dataset).replace('+', '-')}")


def ablation(dataset: str, *, variants: list[str] | None = None, checkpoint: str | Path | None = None,
             epochs: int = 15, samples: int = 10_000, optimised_samples: int = 0, seed: int = 0,
             out: str | Path | None = None, root: str | Path | None = None, device: str | None = None,
             batch_size: int = 1000, steps: int = 200, lr: float = 0.05, tol: float = 1e-4, limit: int | None = None,
             layers: list[str | int] | None = None, layer_variants: list[str] | None = None,
             until_converged: bool = False, patience: int = 5, min_delta: float = 0.1,
             early_exit: bool = False, check_every: int = 1,
             progress: bool = True, log: Callable[[str], None] | None = None) -> list[dict]:
    """Train (or load) a model on `dataset`, then measure every variant; writes out/ablation.csv and out/table.md
    (and out/model.pt when it trains) and returns the rows (one per layer, variant and scheme).

    `optimised_samples` > 0 also measures the optimised D_r on that many samples per scheme and variant.
    The main layer is the checkpoint's profiled layer, else the decoder's 3rd hidden layer; `layers` (names,
    indices, or "all") adds further hidden layers, each measured under `layer_variants` (default "original" and
    "all three"). `until_converged`, `patience`, `min_delta` go to train() (`epochs` is then the maximum);
    `early_exit` and `check_every` to dr_optimised."""
    dataset = DATASET_ALIASES.get(dataset, dataset)
    if checkpoint and until_converged:
        raise ValueError("until_converged trains a model; leave out the checkpoint")
    names = _variants(variants, tuple(VARIANTS))
    per_layer = _variants(layer_variants, LAYER_VARIANTS)
    stage = _stopwatch(dataset, log)
    out = Path(out or default_out(dataset))
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else default_data_root()
    if not dataset.startswith("folder:"):
        fetch_data(root, datasets=[dataset], progress=progress)
    model, meta, prof = _load_or_train(
        dataset, checkpoint, out, root, stage, log, epochs=epochs, seed=seed, device=device, limit=limit,
        progress=progress, until_converged=until_converged, patience=patience, min_delta=min_delta,
        batch_size=batch_size)
    data = meta.get("dataset", dataset)
    profiles = {prof.layer: prof}
    for name in further_layers(model, prof.layer, layers):
        profiles[name] = run_profile(model, data, layer=name, root=root, limit=limit, progress=progress,
                                     batch_size=batch_size)
        stage(f"profile {name}")
    for name, p in profiles.items():  # every layer is checked before any sample is drawn
        check_layer(p, names if name == prof.layer else per_layer)
    quality = model_quality(meta, root=root)
    model_cols = {"model_test_elbo": quality["test_elbo"], "model_test_bce_floor": quality["test_bce_floor"],
                  "model_epochs": quality["epochs"], "model_train_images": quality["n_train"]}
    opt_n = min(optimised_samples, samples)

    def measure(p: ActivationProfile, variant: str, name: str, params: dict) -> dict:
        label = f"{variant} / {name}" if p.layer == prof.layer else f"{p.layer} / {variant} / {name}"
        s = generate(model, p, make_scheme(name, **params), samples, seed=seed, batch_size=batch_size,
                     progress=progress)
        am, asem = _mean_sem(dr_amortised(model, s.images, batch_size=batch_size))
        row = {"dataset": dataset, "layer": p.layer, "units": p.n_units, "variant": variant, "scheme": name,
               "params": " ".join(f"{k}={v}" for k, v in params.items()), "n_amortised": samples,
               "dr_amortised_mean": am, "dr_amortised_sem": asem, "n_optimised": opt_n,
               "dr_optimised_mean": None, "dr_optimised_sem": None, "optimised_converged": None,
               "optimised_steps": steps if opt_n else None, "optimised_early_exit": early_exit if opt_n else None}
        stage(f"{label}: {samples} samples + amortised D_r")
        if opt_n > 0:
            opt = dr_optimised(model, s.images[:opt_n], steps=steps, lr=lr, tol=tol, batch_size=batch_size,
                               progress=progress, early_exit=early_exit, check_every=check_every, starts=[s.z[:opt_n]])
            row["dr_optimised_mean"], row["dr_optimised_sem"] = _mean_sem(opt.values)
            row["optimised_converged"] = float(opt.converged.float().mean())
            stage(f"{label}: optimised D_r of {opt_n}")
        return row

    rows = [{**row, **model_cols} for row in _variant_rows(measure, prof, profiles, names, per_layer)]
    with open(out / "ablation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "table.md").write_text(format_markdown(dataset, rows, opt_n > 0, quality) + "\n")
    return rows


def _stopwatch(dataset: str, log: Callable[[str], None] | None) -> Callable[[str], None]:
    """A stage(name) that logs how long the stage since the last one took."""
    mark = [time.time()]

    def stage(name: str) -> None:
        now = time.time()
        if log is not None:
            log(f"[{dataset}] {name}: {now - mark[0]:.1f} s")
        mark[0] = now

    return stage


def _load_or_train(dataset: str, checkpoint: str | Path | None, out: Path, root: Path, stage: Callable[[str], None],
                   log: Callable[[str], None] | None, *, epochs: int, seed: int, device: str | None,
                   limit: int | None, progress: bool, until_converged: bool, patience: int, min_delta: float,
                   batch_size: int) -> tuple:
    """The model (loaded, or trained and saved to out/model.pt), its metadata and its main layer's profile."""

    def epoch_done(epoch: int, most: int, metrics: dict) -> None:
        if log is not None and "test_elbo" in metrics:
            log(f"[{dataset}] epoch {epoch} (at most {most}): test ELBO {metrics['test_elbo']:.2f} nats")

    if checkpoint:
        ck = load_checkpoint(checkpoint, device=device)
        model, meta, prof = ck.model, ck.meta, ck.profile
        stage("load")
    else:
        trained = train(dataset, epochs=epochs, seed=seed, device=device, root=root, limit=limit, progress=progress,
                        until_converged=until_converged, patience=patience, min_delta=min_delta, on_epoch=epoch_done)
        model, meta, prof = trained.model, trained.meta, None
        stage(f"train (until converged: {meta['epochs']} of at most {epochs} epochs)" if until_converged
              else f"train ({epochs} epochs)")
    data = meta.get("dataset", dataset)
    if prof is None or prof.p99_active is None:  # older profiles lack the percentile the variants need
        prof = run_profile(model, data, root=root, limit=limit, progress=progress, batch_size=batch_size)
        stage("profile")
    if not checkpoint:
        save_checkpoint(out / "model.pt", model, meta, prof)
    return model, meta, prof


def _variant_rows(measure: Callable[..., dict], prof: ActivationProfile, profiles: dict[str, ActivationProfile],
                  names: list[str], per_layer: list[str]) -> list[dict]:
    """Per layer and variant, a row per scheme (ROW_ORDER); regular is measured once, noisy once per layer."""
    regular = measure(prof, "(every variant)", "regular", {})  # leaves every layer alone: measured once
    rows: list[dict] = []
    for layer, p in profiles.items():
        noisy = measure(p, "(every variant)", "noisy", {})
        for variant in (names if layer == prof.layer else per_layer):
            _what, flip, low = VARIANTS[variant]
            mine = {"regular": {**regular, "layer": layer, "units": p.n_units}, "noisy": noisy,
                    "random_flip": measure(p, variant, "random_flip", flip),
                    "low_active": measure(p, variant, "low_active", low)}
            reg = mine["regular"]["dr_amortised_mean"]
            for name in (n for n in ROW_ORDER if n in mine):  # interpolation (Table 1's fifth row) has no variants
                r = {**mine[name], "variant": variant}
                r["ratio_low_active_regular"] = (mine["low_active"]["dr_amortised_mean"] / reg
                                                 if name == "low_active" and reg > 0 else None)
                rows.append(r)
    return rows
