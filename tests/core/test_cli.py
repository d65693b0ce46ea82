from __future__ import annotations

import json

import torch

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
    assert main(["reproduce", "--dataset", "mnist", "--epochs", "1", "--limit", "300", "--samples", "30",
                 "--optimised-samples", "10", "--steps", "5", "--out", str(out), "--quiet", "--root",
                 str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "Low-active" in printed and "4.87" in printed
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["scheme"] for r in rows] == ["low_active", "noisy", "random_flip", "regular"]
    assert all(int(r["n_amortised"]) == 30 and int(r["n_optimised"]) == 10 for r in rows)
    params = json.loads((out / "params.json").read_text())
    assert params["schemes"]["noisy"]["params"] == {"fraction": 0.1, "scale": 1.0, "rectify": True}
    assert params["model_meta"]["epochs"] == 1
    for name in ("low_active", "noisy", "random_flip", "regular"):
        assert (out / f"grid_{name}.png").stat().st_size > 0
