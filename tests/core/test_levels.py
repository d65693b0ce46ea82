"""The level written into a switched-on unit as an axis: D_r curves of the switching schemes against it."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

import creative_core as cc
from creative_core.classifier import save_classifier
from creative_core.cli import main
from creative_core.levels import frontier_comparison, level_sweep


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


def _curve(scheme: str, points: list[tuple[float, float]]) -> list[dict]:
    return [{"kind": "curve", "scheme": scheme, "k": 5, "dr_amortised_mean": x, "meaning_mean": y}
            for x, y in points]


def test_the_frontier_comparison_asks_for_meaning_at_equal_novelty():
    # low-active reaches each novelty with more meaning, although its points sit at other novelties
    rows = _curve("low_active", [(2.0, 0.9), (3.0, 0.8), (4.0, 0.7)]) + \
        _curve("random_flip", [(1.5, 0.85), (2.5, 0.7), (3.5, 0.55)])
    got = frontier_comparison(rows)
    assert got["verdict"] == "low-active dominates" and got["share_above"] == 1.0
    assert (got["novelty_low"], got["novelty_high"]) == (2.0, 3.5)
    assert got["smallest_gap"] > 0
    crossing = _curve("low_active", [(2.0, 0.9), (4.0, 0.3)]) + _curve("random_flip", [(2.0, 0.6), (4.0, 0.6)])
    assert frontier_comparison(crossing)["verdict"] == "they cross"
    apart = _curve("low_active", [(3.0, 0.9), (4.0, 0.8)]) + _curve("random_flip", [(1.0, 0.9), (2.0, 0.8)])
    assert frontier_comparison(apart)["verdict"] == "no overlap"


def test_the_cli_draws_the_frontier_with_a_classifier(tiny, tiny_profile, mnist_classifier, tmp_path, capsys):
    ck, clf = tmp_path / "m.pt", tmp_path / "clf.pt"
    cc.save_checkpoint(ck, tiny.model, tiny.meta, tiny_profile)
    save_classifier(clf, mnist_classifier)
    out = tmp_path / "levels"
    assert main(["levels", "--checkpoint", str(ck), "--classifier", str(clf), "--in-classes",
                 ",".join(map(str, range(10))), "--factor", "0.5", "--factor", "1.5", "--samples", "60",
                 "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert "frontier (k=5):" in capsys.readouterr().out
    with open(out / "levels.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(0.0 < float(r["meaning_mean"]) <= 1.0 for r in rows)
    assert (out / "frontier.png").stat().st_size > 0 and (out / "frontier-k5.json").is_file()
    # a class the classifier does not know is refused with the reason
    assert main(["levels", "--checkpoint", str(ck), "--classifier", str(clf), "--in-classes", "10,11",
                 "--factor", "1", "--samples", "10", "--out", str(out), "--quiet"]) == 1
    assert "knows 10 classes" in capsys.readouterr().err


def test_a_matched_level_gives_random_flip_low_actives_novelty(tiny, tiny_profile):
    from creative_core.levels import match_level, mean_dr

    target = mean_dr(tiny.model, tiny_profile, "low_active", {}, 150, seed=2)
    level, got = match_level(tiny.model, tiny_profile, "random_flip", target, samples=150, seed=2, rel_tol=0.01)
    assert abs(got - target) <= 0.01 * target
    # the level found is what random flip then writes: measured again from scratch, the same D_r
    assert mean_dr(tiny.model, tiny_profile, "random_flip", {"value": level}, 150, seed=2) == pytest.approx(got)
    with pytest.raises(ValueError, match="only a switching scheme"):
        match_level(tiny.model, tiny_profile, "noisy", target, samples=10)
