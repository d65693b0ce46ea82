from __future__ import annotations

import json

import pytest
import torch

import creative_core as cc
from creative_core.cli import main


def test_the_cli_trains_profiles_generates_and_measures(data_root, tmp_path, capsys):
    ck = tmp_path / "m.pt"
    assert main(["train", "--dataset", "mnist", "--epochs", "1", "--limit", "300", "--out", str(ck), "--quiet",
                 "--device", "cpu", "--root", str(data_root)]) == 0
    assert main(["profile", "--checkpoint", str(ck), "--limit", "300", "--quiet", "--root", str(data_root)]) == 0
    out = tmp_path / "gen"
    assert main(["generate", "--checkpoint", str(ck), "--scheme", "low_active", "--param", "k=3", "-n", "12",
                 "--out", str(out), "--pngs", "--quiet"]) == 0
    blob = torch.load(out / "samples.pt", weights_only=True)
    assert blob["units"].shape == (12, 3) and (out / "grid.png").exists() and (out / "000011.png").exists()
    capsys.readouterr()
    assert main(["measure", "--checkpoint", str(ck), "--samples", str(out / "samples.pt"), "--optimised", "4",
                 "--steps", "5", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 12 and res["n_optimised"] == 4 and res["dr_optimised_mean"] <= res["dr_amortised_mean"]


def test_the_cli_reports_a_bad_parameter(data_root, tmp_path, capsys):
    ck = tmp_path / "m.pt"
    main(["train", "--dataset", "mnist", "--epochs", "1", "--limit", "100", "--out", str(ck), "--quiet",
          "--root", str(data_root)])
    assert main(["generate", "--checkpoint", str(ck), "--scheme", "noisy", "--param", "sigma=2", "--out",
                 str(tmp_path / "g"), "--quiet"]) == 1
    assert "unknown parameter 'sigma'" in capsys.readouterr().err


def test_reproduce_writes_the_table_csv_json_and_grids(data_root, tmp_path, capsys):
    import csv

    out = tmp_path / "r"
    assert main(["reproduce", "--dataset", "mnist", "--seeds", "1", "--epochs", "1", "--limit", "300", "--samples", "30",
                 "--optimised-samples", "10", "--steps", "5", "--out", str(out), "--quiet", "--root",
                 str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "Low-active" in printed and "4.87" in printed
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["scheme"] for r in rows] == ["low_active", "noisy", "random_flip", "regular", "interpolation"]
    assert all(int(r["n_amortised"]) == 30 and int(r["n_optimised"]) == 10 for r in rows)
    params = json.loads((out / "params.json").read_text())
    assert params["schemes"]["noisy"]["params"] == {"fraction": 0.1, "scale": 1.0, "rectify": True}
    assert params["model_meta"]["epochs"] == 1
    # The level written is the one stored under the scheme's derived values, the high level of the profile: not
    # the fallback for never-firing units, which a single level for every unit never uses.
    ck = cc.load_checkpoint(out / "model.pt")
    for name in ("low_active", "random_flip"):
        derived = params["schemes"][name]["derived"]
        assert derived["high_level"] == pytest.approx(cc.schemes.high_level(ck.profile))
        assert derived["high_level"] != pytest.approx(derived["fallback_value"])
    for name in ("low_active", "noisy", "random_flip", "regular"):
        assert (out / f"grid_{name}.png").stat().st_size > 0


def test_reproduce_all_runs_the_three_data_sets_into_one_table(tmp_path, capsys):
    import csv

    root = cc.fetch_data(datasets=["mnist", "fmnist"], progress=False)
    out = tmp_path / "all"
    assert main(["reproduce", "--all", "--seeds", "1", "--epochs", "1", "--limit", "200", "--samples", "20", "--optimised-samples",
                 "8", "--steps", "4", "--early-exit", "--out", str(out), "--quiet", "--root", str(root)]) == 0
    printed = capsys.readouterr().out
    for dataset in ("mnist", "fmnist", "mnist+fmnist"):
        assert "== data set" in printed and f"[{dataset}] train (1 epochs):" in printed
        assert f"[{dataset}] low_active: optimised D_r of 8:" in printed
        assert (out / dataset.replace("+", "-") / "results.csv").is_file()
    assert "mnist+fmnist  low-active / regular (amortised)" in printed and "(paper 3.09)" in printed
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["dataset"] for r in rows] == ["mnist"] * 5 + ["fmnist"] * 5 + ["mnist+fmnist"] * 5
    assert (out / "table.txt").read_text().strip().endswith("s")
    stages = json.loads((out / "fmnist" / "params.json").read_text())["stages"]
    assert "profile" in stages and all(v >= 0 for v in stages.values())


def test_it_trains_a_classifier_and_prints_its_test_accuracy(data_root, tmp_path, capsys):
    from creative_core.classifier import load_classifier

    path = tmp_path / "clf.pt"
    assert main(["train-classifier", "--dataset", "mnist", "--epochs", "3", "--limit", "2000", "--batch-size", "64", "--out", str(path),
                 "--quiet", "--root", str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "on 10,000 mnist test images (10 classes, 3 epochs" in printed
    accuracy = float(printed.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80 and load_classifier(path).meta["test_accuracy"] == pytest.approx(accuracy / 100, abs=1e-4)


def test_reproduce_reports_the_spread_across_training_seeds(data_root, tmp_path, capsys):
    import csv

    out = tmp_path / "seeds"
    assert main(["reproduce", "--dataset", "mnist", "--seeds", "3", "--epochs", "1", "--limit", "200", "--samples",
                 "40", "--optimised-samples", "4", "--steps", "3", "--out", str(out), "--quiet", "--root",
                 str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "| mnist | low_active / regular (amortised) | 3.36 | 3 |" in printed
    models = list(csv.DictReader(open(out / "results.csv")))
    assert sorted({r["seed"] for r in models}) == ["0", "1", "2"]
    for seed in (0, 1, 2):
        assert (out / "mnist" / f"seed-{seed}" / "model.pt").is_file()
    summary = {r["quantity"]: r for r in csv.DictReader(open(out / "across_seeds.csv"))}
    ratios = [float(m["dr_amortised_mean"]) for m in models if m["scheme"] == "low_active"]
    regular = [float(m["dr_amortised_mean"]) for m in models if m["scheme"] == "regular"]
    per_model = [a / b for a, b in zip(ratios, regular, strict=True)]
    row = summary["low_active / regular (amortised)"]
    assert float(row["mean"]) == pytest.approx(sum(per_model) / 3)
    assert float(row["low"]) < float(row["mean"]) < float(row["high"])  # three different models: a real spread
    assert float(row["sd"]) > 0


def test_reproduce_resumes_and_gathers_seeds_run_apart(data_root, tmp_path, capsys):
    """A seed run on its own (one per core) is kept by `--seeds --resume` when its settings match; a seed whose
    settings differ, or that is missing, is trained."""
    out = tmp_path / "seeds"
    tiny = ["--epochs", "1", "--limit", "200", "--samples", "20", "--optimised-samples", "4", "--steps", "3",
            "--quiet", "--root", str(data_root)]
    assert main(["reproduce", "--dataset", "mnist", "--seed", "1", "--seeds", "1",
                 "--out", str(out / "mnist" / "seed-1"), *tiny]) == 0
    apart = (out / "mnist" / "seed-1" / "model.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["reproduce", "--dataset", "mnist", "--seeds", "2", "--resume", "--out", str(out), *tiny]) == 0
    printed = capsys.readouterr().out
    assert "seed 1: kept the finished run" in printed and "seed 0: kept" not in printed
    assert (out / "mnist" / "seed-1" / "model.pt").stat().st_mtime_ns == apart
    assert (out / "mnist" / "seed-0" / "model.pt").is_file()
    table = (out / "table.md").read_text()
    assert "| mnist | low_active / regular (amortised) | 3.36 | 2 |" in table

    # Other settings: the finished run is not theirs, so it is trained again.
    more = [a if a != "20" else "24" for a in tiny]
    assert main(["reproduce", "--dataset", "mnist", "--seeds", "2", "--resume", "--out", str(out), *more]) == 0
    assert "kept the finished run" not in capsys.readouterr().out
    assert (out / "mnist" / "seed-1" / "model.pt").stat().st_mtime_ns != apart
    assert json.loads((out / "mnist" / "seed-1" / "params.json").read_text())["samples_per_scheme"] == 24
