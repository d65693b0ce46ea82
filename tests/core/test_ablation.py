"""The ablation options of random flip and low-active (value written, candidate units) on known inputs, the profile's
p99_active, and the `ablation` command on a tiny configuration."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch

import creative_core as cc
from creative_core.ablation import VARIANTS, ablation, check_layer, describe_model, model_quality
from creative_core.cli import main
from creative_core.schemes import high_level

from .conftest import layer_io

N = 200


def _z(model, n=N):
    from creative_core.sampling import latents

    return latents(0, torch.arange(n), model.latent_dim)


def _flip(h, scheme, profile, n=None):
    scheme.prepare(profile, torch.device("cpu"))
    return scheme.apply(h.clone(), torch.arange(len(h)), 0)


def _toy_profile(n_units=20):
    """20 units: 0-4 never fire, 5-19 fire; percent activation rises with the unit id; known maxima."""
    pa = np.array([0.0] * 5 + list(np.linspace(1, 60, 15)), dtype=np.float32)
    mx = np.array([0.0] * 5 + list(np.arange(1, 16, dtype=np.float32)), dtype=np.float32)
    return cc.ActivationProfile(layer="toy", percent_active=pa, max=mx, mean_active=mx / 2, std=np.ones(n_units),
                                corr=np.eye(n_units, dtype=np.float32), n_samples=100, p99_active=mx * 0.9)


def test_the_profile_stores_the_99th_percentile_of_active_values(tiny, tiny_profile, data_root, tmp_path):
    p99, mx, ma = tiny_profile.p99_active, tiny_profile.max, tiny_profile.mean_active
    firing = mx > 0
    assert p99.shape == mx.shape and (p99[~firing] == 0).all()
    assert (p99[firing] > 0).all() and (p99 <= mx + 1e-6).all() and (p99[firing] >= ma[firing] - 1e-4).all()
    # exact against all activations at the layer (nearest rank of the active values)
    name, module = cc.resolve_layer(tiny.model, tiny_profile.layer)
    x = cc.load_dataset("mnist", train=True, root=data_root, limit=2000)
    seen = []
    hook = module.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        for xb in cc.training.batches(x, 1000, shuffle=False):
            tiny.model.decode(tiny.model.encode(xb)[0])
    hook.remove()
    a = torch.cat(seen).double().numpy()
    for u in np.flatnonzero(firing)[:20]:
        act = np.sort(a[a[:, u] > 0, u])[::-1]
        assert p99[u] == pytest.approx(act[int(np.ceil(0.01 * len(act))) - 1], rel=1e-5)
    # stored with the checkpoint and in to_dict; an older profile without it still loads
    path = tmp_path / "m.pt"
    cc.save_checkpoint(path, tiny.model, tiny.meta, tiny_profile)
    np.testing.assert_array_equal(cc.load_checkpoint(path).profile.p99_active, p99)
    d = tiny_profile.to_dict()
    np.testing.assert_allclose(cc.ActivationProfile.from_dict(json.loads(json.dumps(d))).p99_active, p99)
    del d["p99_active"]
    assert cc.ActivationProfile.from_dict(d).p99_active is None


def test_value_percentile_writes_each_units_p99(tiny, tiny_profile):
    s = cc.generate(tiny.model, tiny_profile, cc.make_scheme("low_active", value="percentile"), N, seed=0,
                    progress=False)
    _before, after = layer_io(tiny.model, _z(tiny.model), cc.make_scheme("low_active", value="percentile"),
                              tiny_profile)
    units = s.units.numpy()
    np.testing.assert_allclose(after.numpy()[np.arange(N)[:, None], units], tiny_profile.p99_active[units])
    old = dataclasses.replace(tiny_profile, p99_active=None)
    with pytest.raises(ValueError, match="profile the layer again"):
        cc.make_scheme("random_flip", value="percentile").prepare(old, torch.device("cpu"))


def test_value_high_level_writes_one_level_into_every_switched_on_unit(tiny, tiny_profile):
    m = tiny_profile.max[tiny_profile.max > 0]
    level = high_level(tiny_profile)
    assert level == pytest.approx(float(m[m >= np.percentile(m, 90)].mean()))
    assert np.percentile(m, 90) <= level <= m.max()
    for name in ("random_flip", "low_active"):
        before, after = layer_io(tiny.model, _z(tiny.model), cc.make_scheme(name, value="high_level"), tiny_profile)
        written = after[after != before].numpy()
        assert len(written) > N and np.allclose(written, level)
        scheme = cc.make_scheme(name, value="high_level")
        scheme.prepare(tiny_profile, torch.device("cpu"))
        assert scheme.info["high_level"] == pytest.approx(level)  # stored with the results
    # on known maxima: units 5..19 have maxima 1..15, the top decile is {14, 15}
    assert high_level(_toy_profile()) == pytest.approx(14.5)


def test_random_flip_fires_sometimes_never_picks_a_never_firing_unit():
    prof = _toy_profile()
    h = torch.zeros(300, 20)
    h[:, 10:14] = 1.0  # on for every sample
    scheme = cc.make_scheme("random_flip", k=5, value="unit_max", candidates="fires_sometimes")
    out, units, _ = _flip(h, scheme, prof)
    u = units.numpy()
    assert u.shape == (300, 5) and (u >= 5).all() and not np.isin(u, [10, 11, 12, 13]).any()
    assert all(len(set(r)) == 5 for r in u)
    np.testing.assert_allclose(out.numpy()[np.arange(300)[:, None], u], prof.max[u])
    # the first choice's candidate set does pick never-firing units
    _out, today, _ = _flip(h, cc.make_scheme("random_flip", k=5, candidates="off_for_sample"), prof)
    assert (today.numpy() < 5).any()
    # with only 11 firing units off, k=12 cannot be filled: padded with -1, never a never-firing unit
    _out, few, _ = _flip(h, cc.make_scheme("random_flip", k=12, candidates="fires_sometimes"), prof)
    f = few.numpy()
    assert ((f == -1) | (f >= 5)).all() and ((f >= 0).sum(1) == 11).all()
    with pytest.raises(ValueError, match="firing"):
        cc.make_scheme("random_flip", k=16, candidates="fires_sometimes").check_fits(20, prof)


def test_low_active_must_be_off_never_picks_an_already_on_unit(tiny, tiny_profile):
    z = _z(tiny.model)
    before, after = layer_io(tiny.model, z, cc.make_scheme("low_active", candidates="must_be_off"), tiny_profile)
    scheme = cc.make_scheme("low_active", candidates="must_be_off")
    scheme.prepare(tiny_profile, torch.device("cpu"))
    _out, units, _ = scheme.apply(before.clone(), torch.arange(N), 0)
    u = units.numpy()
    rows = np.arange(N)[:, None]
    valid = u >= 0
    assert valid.all(axis=1).mean() > 0.9  # a sample almost always has 5 band units off
    assert (before.numpy()[rows, np.where(valid, u, 0)][valid] == 0).all()
    low = set(scheme.low.tolist())
    assert set(u[valid].tolist()) <= low
    assert all(len(set(r[r >= 0])) == (r >= 0).sum() for r in u)
    # the partners are the first unit's most correlated band units that are off
    r0 = u[0]
    off0 = [x for x in scheme.low.tolist() if before[0, x] == 0 and x != r0[0]]
    corr = tiny_profile.corr[r0[0], off0]
    assert set(r0[1:]) == set(np.asarray(off0)[np.argsort(-corr, kind="stable")[:4]])
    # the first choice does switch on band units that were already on (the sample of the layer is large enough)
    today = cc.make_scheme("low_active", candidates="band")
    today.prepare(tiny_profile, torch.device("cpu"))
    _o, tu, _ = today.apply(before.clone(), torch.arange(N), 0)
    assert (before.numpy()[rows, tu.numpy()] > 0).any()


def test_low_active_must_be_off_on_known_inputs():
    prof = _toy_profile()
    band = cc.make_scheme("low_active", k=2, band=(0, 100), candidates="must_be_off")
    band.prepare(prof, torch.device("cpu"))
    low = band.low.tolist()
    h = torch.zeros(50, 20)
    h[:, low[:-3]] = 2.0  # all but three band units are on
    _out, units, _ = band.apply(h, torch.arange(50), 0)
    u = units.numpy()
    assert np.isin(u, low[-3:]).all()
    h[:, low] = 2.0  # none off: nothing is switched on
    out, units, _ = band.apply(h.clone(), torch.arange(50), 0)
    assert (units == -1).all() and torch.equal(out, h)


def test_the_options_are_validated_and_leave_the_defaults_alone():
    with pytest.raises(ValueError, match="'candidates'"):
        cc.make_scheme("random_flip", candidates="band")
    with pytest.raises(ValueError, match="'candidates'"):
        cc.make_scheme("low_active", candidates="fires_sometimes")
    with pytest.raises(ValueError, match="'value'"):
        cc.make_scheme("low_active", value="p99")
    with pytest.raises(ValueError, match="unknown parameter 'candidates'"):
        cc.make_scheme("noisy", candidates="band")
    assert cc.scheme_defaults("random_flip")["candidates"] == "fires_sometimes"
    assert cc.make_scheme("low_active").params["candidates"] == "must_be_off"
    assert cc.make_scheme("random_flip", candidates="fires_sometimes").params["candidates"] == "fires_sometimes"


def test_the_ablation_command_prints_a_row_per_variant(data_root, tmp_path, capsys):
    out = tmp_path / "ab"
    assert main(["ablation", "--dataset", "mnist", "--epochs", "1", "--limit", "300", "--samples", "20",
                 "--optimised-samples", "5", "--steps", "3", "--out", str(out), "--quiet", "--root",
                 str(data_root), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    table = [line for line in printed.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| Layer | Variant |") and "Low-active / regular" in table[0]
    assert [line.split(" | ")[1] for line in table[2:]] == list(VARIANTS)
    assert all(line.startswith("| decoder.act3 (1,000) |") for line in table[2:])
    assert all(line.count("±") == 8 for line in table[2:])  # 4 schemes x (amortised, optimised)
    assert "train (1 epochs)" in printed and "original / low_active: 20 samples + amortised D_r" in printed
    rows = list(csv.DictReader(open(out / "ablation.csv")))
    assert len(rows) == 4 * len(VARIANTS)
    ratios = [float(r["ratio_low_active_regular"]) for r in rows if r["scheme"] == "low_active"]
    regular = {r["variant"]: float(r["dr_amortised_mean"]) for r in rows if r["scheme"] == "regular"}
    low = {r["variant"]: float(r["dr_amortised_mean"]) for r in rows if r["scheme"] == "low_active"}
    assert ratios == pytest.approx([low[v] / regular[v] for v in VARIANTS])
    assert len(set(regular.values())) == 1  # regular does not depend on the variant
    assert (out / "table.md").read_text().startswith("D_r on mnist")
    assert main(["ablation", "--dataset", "fashion", "--checkpoint", str(out / "model.pt"), "--samples", "10",
                 "--variant", "value=high_level", "--out", str(tmp_path / "ab2"), "--quiet",
                 "--optimised-samples", "10", "--steps", "40", "--tol", "1e9", "--early-exit"]) == 0
    printed = capsys.readouterr().out
    assert "| value=high_level |" in printed and "| original |" not in printed
    # how the optimised D_r was run is on every row: early exit, steps, the share converged (all, at tol 1e9)
    early = list(csv.DictReader(open(tmp_path / "ab2" / "ablation.csv")))
    assert [(r["optimised_early_exit"], r["optimised_steps"], r["optimised_converged"]) for r in early] == [
        ("True", "40", "1.0")] * 4


def test_the_ablation_measures_lower_layers_and_states_the_models_quality(data_root, tmp_path, capsys):
    out = tmp_path / "ab"
    assert main(["ablation", "--dataset", "mnist", "--until-converged", "--max-epochs", "4", "--patience", "1",
                 "--min-delta", "1e9", "--limit", "300", "--samples", "20", "--variant", "original", "--variant",
                 "low=must_be_off", "--layer", "all", "--out", str(out), "--quiet", "--root", str(data_root),
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "ablation.csv")))
    groups = list(dict.fromkeys((r["layer"], r["units"], r["variant"]) for r in rows))
    # the main layer under the chosen variants, then each lower layer under the default pair of variants
    assert groups == [("decoder.act3", "1000", "original"), ("decoder.act3", "1000", "low=must_be_off"),
                      ("decoder.act1", "250", "original"), ("decoder.act1", "250", "all three"),
                      ("decoder.act2", "500", "original"), ("decoder.act2", "500", "all three")]
    assert len(rows) == 4 * len(groups)
    dr = lambda scheme, layer: {float(r["dr_amortised_mean"]) for r in rows  # noqa: E731
                                if r["scheme"] == scheme and r["layer"] == layer}
    assert len(dr("regular", "decoder.act3") | dr("regular", "decoder.act1") | dr("regular", "decoder.act2")) == 1
    assert all(len(dr("noisy", layer)) == 1 for layer in ("decoder.act1", "decoder.act2", "decoder.act3"))
    for r in rows:
        if r["scheme"] == "low_active":
            regular = next(float(x["dr_amortised_mean"]) for x in rows if x["scheme"] == "regular")
            assert float(r["ratio_low_active_regular"]) == pytest.approx(float(r["dr_amortised_mean"]) / regular)
    assert "decoder.act1 / all three / low_active: 20 samples" in printed and "profile decoder.act2" in printed
    table = [line for line in printed.splitlines() if line.startswith("| decoder.")]
    assert [line.split(" | ")[:2] for line in table] == [[f"| {a} ({int(u):,})", v] for a, u, v in groups]
    # the model's quality: trained until converged (stopped after 2 epochs), test ELBO, its floor, images
    meta = cc.load_checkpoint(out / "model.pt").meta
    assert meta["epochs"] == 2 and len(meta["test_elbo_curve"]) == 2
    assert "epoch 2 (at most 4): test ELBO" in printed
    md = (out / "table.md").read_text()
    assert md.startswith("D_r on mnist") and md in printed
    assert f"Test ELBO {meta['test_elbo']:.2f} nats per image on 50 held-out test images" in md
    assert f"pixels' own entropy, {meta['test_bce_floor']:.2f} nats" in md and "not binarised" in md
    assert "2 epochs (at most 4" in md and "on 300 mnist training images" in md
    assert "Test ELBO after each epoch: " + ", ".join(f"{v:.2f}" for v in meta["test_elbo_curve"]) in md
    for r in rows:
        assert float(r["model_test_elbo"]) == pytest.approx(meta["test_elbo"])
        assert (r["model_epochs"], r["model_train_images"]) == ("2", "300")
        assert float(r["model_test_bce_floor"]) == pytest.approx(meta["test_bce_floor"])
    # a checkpoint trained before the images and the floor were recorded: counted again from the data
    old = {k: v for k, v in meta.items() if k not in ("n_train", "n_test", "test_bce_floor", "until_converged",
                                                      "test_elbo_curve")}
    q = model_quality(old, root=data_root)
    assert (q["n_train"], q["n_test"]) == (300, 50) and q["test_bce_floor"] == pytest.approx(meta["test_bce_floor"])
    assert "for 2 epochs on 300 mnist training images" in describe_model(q)[0]
    # a fixed length and --until-converged exclude each other
    assert main(["ablation", "--dataset", "mnist", "--epochs", "3", "--until-converged", "--out", str(out)]) == 1
    assert "--max-epochs" in capsys.readouterr().err


def test_a_layer_too_small_for_k_is_refused_before_any_sample(data_root, tmp_path, capsys):
    torch.manual_seed(0)
    model = cc.MLPVAE(hidden=(400, 300, 4))  # decoder: 4, 300, 400 units
    path = tmp_path / "small.pt"
    cc.save_checkpoint(path, model, {"dataset": "mnist", "limit": 300, "epochs": 0})
    with pytest.raises(ValueError, match=r"layer 'decoder.act1' \(4 units\) is too small for variant 'original': "
                                         r"random_flip: .*'k'.* is 5, but the layer has 4 units"):
        ablation("mnist", checkpoint=path, layers=[0], samples=10, root=data_root, limit=300, out=tmp_path / "ab",
                 progress=False, device="cpu")
    assert not (tmp_path / "ab" / "ablation.csv").exists()
    assert main(["ablation", "--dataset", "mnist", "--checkpoint", str(path), "--layer", "decoder.act1", "--limit",
                 "300", "--out", str(tmp_path / "ab"), "--quiet", "--root", str(data_root)]) == 1
    assert "too small" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"no layer named 'decoder.fc9'; hidden layers: \['decoder.act1'"):
        ablation("mnist", checkpoint=path, layers=["decoder.fc9"], samples=10, root=data_root, limit=300,
                 out=tmp_path / "ab", progress=False, device="cpu")
    # k within the layer but not within its low-active band: 30 units, 3 of them in the band
    pa = np.linspace(1, 90, 30).astype(np.float32)
    prof = cc.ActivationProfile(layer="toy", percent_active=pa, max=np.ones(30, np.float32), mean_active=pa,
                                std=np.ones(30, np.float32), corr=np.eye(30, dtype=np.float32), n_samples=100,
                                p99_active=np.ones(30, np.float32))
    with pytest.raises(ValueError, match=r"layer 'toy' \(30 units\) is too small for variant 'all three': "
                                         r"low_active: .*low-active band .* holds 4 units"):
        check_layer(prof, ["all three"])
