"""The level written into a switched-on unit as an axis: D_r curves of the switching schemes against it."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

import creative_core as cc
from creative_core.cli import main
from creative_core.levels import level_sweep


def test_the_switching_schemes_move_further_the_higher_the_level(tiny, tiny_profile):
    rows = level_sweep(tiny.model, tiny_profile, factors=(0.25, 2.0), k_values=(5,), samples=200)
    curve = {(r["scheme"], r["level_factor"]): r for r in rows if r["kind"] == "curve"}
    for name in ("low_active", "random_flip"):
        assert curve[(name, 2.0)]["dr_amortised_mean"] > curve[(name, 0.25)]["dr_amortised_mean"]
        # the level is the one both schemes wrote, a multiple of the default's
        assert curve[(name, 2.0)]["level"] == pytest.approx(2.0 * cc.schemes.high_level(tiny_profile))
    # regular decoding does not depend on the level: one measurement, the same as measuring it directly
    regular = [r for r in rows if r["scheme"] == "regular"]
    assert len(regular) == 1 and regular[0]["ratio_to_regular"] == pytest.approx(1.0)
    s = cc.generate(tiny.model, tiny_profile, "regular", 200, seed=0, progress=False)
    assert regular[0]["dr_amortised_mean"] == pytest.approx(float(cc.dr_amortised(tiny.model, s.images).mean()),
                                                            rel=1e-5)
    # the paper's text-literal variant stands beside the curve, one point per switching scheme
    assert {r["scheme"] for r in rows if r["kind"] == "text_literal"} == {"low_active", "random_flip"}


def test_a_level_that_is_not_positive_is_refused(tiny, tiny_profile):
    with pytest.raises(ValueError, match="positive"):
        level_sweep(tiny.model, tiny_profile, factors=(0.0, 1.0), samples=10)


def test_the_cli_writes_the_curve_table_and_plot(tiny, tiny_profile, tmp_path, capsys):
    ck = tmp_path / "m.pt"
    cc.save_checkpoint(ck, tiny.model, tiny.meta, tiny_profile)
    out = tmp_path / "levels"
    assert main(["levels", "--checkpoint", str(ck), "--factor", "0.5", "--factor", "1", "--k", "3",
                 "--samples", "50", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "| 3 | each unit's own max (text-literal) |" in printed
    with open(out / "levels.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["level_factor"] for r in rows if r["kind"] == "curve"}) == ["0.5", "1.0"]
    with Image.open(out / "levels.png") as im:
        assert im.size[0] > 400 and im.size[1] > 300
    assert {int(r["n"]) for r in rows} == {50}
