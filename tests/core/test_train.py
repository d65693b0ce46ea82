from __future__ import annotations

import pytest

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


def test_should_stop_cancels_training(data_root):
    with pytest.raises(cc.Cancelled):
        cc.train("mnist", epochs=1, limit=300, root=data_root, progress=False, should_stop=lambda: True)


def test_the_combined_set_defaults_to_a_100_dim_latent():
    from creative_core.training import default_arch, default_latent_dim

    assert default_latent_dim("mnist+fmnist") == 100 and default_latent_dim("mnist") == 50
    assert default_arch("folder:/x") == "conv" and default_arch("fmnist") == "mlp"
