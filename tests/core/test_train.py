from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import creative_core as cc


def test_it_reports_each_epoch_and_returns_metadata(data_root):
    seen = []
    t = cc.train("mnist", epochs=2, limit=300, root=data_root, progress=False, device="cpu",
                 on_epoch=lambda e, n, m: seen.append((e, n, sorted(m))))
    assert [s[:2] for s in seen] == [(1, 2), (2, 2)] and "train_loss" in seen[0][2]
    assert not t.model.training
    for key in ("dataset", "arch", "latent_dim", "epochs", "seed", "limit", "test_elbo", "test_recon", "version",
                "device", "seconds"):
        assert key in t.meta, key
    assert t.meta["arch"] == "mlp" and t.meta["latent_dim"] == 50 and t.meta["test_elbo"] < 0


def test_it_reports_its_progress_within_each_epoch(data_root):
    seen = []
    t = cc.train("mnist", epochs=2, limit=300, batch_size=100, root=data_root, progress=False, device="cpu",
                 on_batch=lambda epoch, done, n: seen.append((epoch, done, n)))
    assert seen == [(e, done, 300) for e in (1, 2) for done in (100, 200, 300)]
    assert t.meta["epochs"] == 2


def test_it_trains_until_the_test_elbo_stops_improving(data_root):
    seen = []
    kw = {"limit": 300, "root": data_root, "progress": False, "device": "cpu", "until_converged": True}
    # a tolerance so large that no epoch counts as an improvement: patience 1 stops after the 2nd epoch
    t = cc.train("mnist", epochs=5, patience=1, min_delta=1e9, on_epoch=lambda e, n, m: seen.append((e, n, m)), **kw)
    curve = t.meta["test_elbo_curve"]
    assert t.meta["epochs"] == 2 and len(curve) == 2 and [s[:2] for s in seen] == [(1, 5), (2, 5)]
    assert [s[2]["test_elbo"] for s in seen] == curve and all(c < 0 for c in curve)
    uc = t.meta["until_converged"]
    assert uc["stopped"] and uc["max_epochs"] == 5 and uc["weights"] == "last epoch"
    assert uc["best_epoch"] == 1 + curve.index(max(curve)) and t.meta["test_elbo"] == curve[-1]
    # every epoch improves early on: with no tolerance it runs to the maximum, and keeps the last epoch's weights,
    # exactly those of a fixed run of as many epochs (measuring the test ELBO does not disturb training)
    t3 = cc.train("mnist", epochs=3, patience=1, min_delta=0.0, **kw)
    assert t3.meta["epochs"] == 3 and not t3.meta["until_converged"]["stopped"]
    assert t3.meta["test_elbo_curve"][0] < t3.meta["test_elbo_curve"][1] < t3.meta["test_elbo_curve"][2]
    fixed = cc.train("mnist", epochs=3, limit=300, root=data_root, progress=False, device="cpu")
    assert fixed.meta["test_elbo"] == t3.meta["test_elbo"] == t3.meta["test_elbo_curve"][-1]
    assert all(torch.equal(a, b) for a, b in zip(t3.model.state_dict().values(), fixed.model.state_dict().values(),
                                                   strict=True))
    # a fixed run measures no curve; both record the images and the floor the grey-level pixels put on the ELBO
    assert "test_elbo_curve" not in fixed.meta and "test_elbo" not in fixed.meta["history"][0]
    assert fixed.meta["n_train"] == 300 and fixed.meta["n_test"] == 50
    assert 30 < fixed.meta["test_bce_floor"] < 60 and fixed.meta["test_elbo"] < -fixed.meta["test_bce_floor"]
    with pytest.raises(ValueError, match="patience"):
        cc.train("mnist", epochs=2, patience=0, **kw)


def test_the_bce_floor_is_the_bce_of_a_perfect_reconstruction():
    from creative_core.datasets import TensorImages
    from creative_core.training import bce_floor

    x = torch.tensor([[0.0, 1.0, 0.5, 0.25]]).reshape(1, 1, 2, 2).repeat(3, 1, 1, 1)
    p = x.double().clamp(1e-9, 1 - 1e-9)  # decoding each pixel as itself (the logit of its grey level)
    perfect = float(F.binary_cross_entropy_with_logits(torch.logit(p), x.double(), reduction="sum")) / 3
    assert bce_floor(TensorImages(x, torch.zeros(3))) == pytest.approx(perfect, abs=1e-6)
    assert perfect == pytest.approx(math.log(2) - 0.25 * math.log(0.25) - 0.75 * math.log(0.75), abs=1e-6)
    assert bce_floor(TensorImages(x.round(), torch.zeros(3))) == 0.0  # binarised images: no floor


def test_should_stop_cancels_training(data_root):
    with pytest.raises(cc.Cancelled):
        cc.train("mnist", epochs=1, limit=300, root=data_root, progress=False, should_stop=lambda: True)


def test_the_combined_set_defaults_to_a_100_dim_latent():
    from creative_core.training import default_arch, default_latent_dim

    assert default_latent_dim("mnist+fmnist") == 100 and default_latent_dim("mnist") == 50
    assert default_arch("folder:/x") == "conv" and default_arch("fmnist") == "mlp"


def test_the_importance_weighted_bound_tightens_with_k_and_is_repeatable(tiny, data_root):
    from creative_core.datasets import training_set
    from creative_core.training import log_likelihood

    test = training_set("mnist", root=data_root, train=False, limit=200)
    x = test.images
    one = log_likelihood(tiny.model, x, k=1, device="cpu")
    many = log_likelihood(tiny.model, x, k=50, device="cpu")
    assert one.shape == many.shape == (200,) and one.dtype == torch.float64
    assert many.mean() > one.mean() + 0.5  # a looser bound at k = 1 (the ELBO), on average
    assert (many <= 0).all()  # a log-likelihood of Bernoulli pixels is never positive
    assert torch.equal(many, log_likelihood(tiny.model, x, k=50, device="cpu"))  # same seed, same draws
    # k = 1 is the ELBO: it agrees with training's own test ELBO on the same images (one z sample each)
    from creative_core.training import evaluate

    assert one.mean().item() == pytest.approx(evaluate(tiny.model, test, torch.device("cpu"))["test_elbo"], abs=3.0)


def test_the_quality_command_prints_grey_and_binarised_bounds(tiny, data_root, tmp_path, capsys):
    from creative_core.cli import main

    path = tmp_path / "m.pt"
    cc.save_checkpoint(path, tiny.model, tiny.meta, None)
    assert main(["quality", "--checkpoint", str(path), "--k", "5", "--images", "50", "--root", str(data_root),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("grey-level test images (50): ELBO -") and "(k = 5)" in out[0]
    assert out[1].startswith("binarised (x > 0.5) test images (50): ELBO -")
