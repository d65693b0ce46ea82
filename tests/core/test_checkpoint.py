from __future__ import annotations

import numpy as np
import pytest
import torch

import creative_core as cc


def test_it_round_trips_without_arguments(tiny, tiny_profile, tmp_path):
    path = tmp_path / "m.pt"
    cc.save_checkpoint(path, tiny.model, tiny.meta, tiny_profile)
    ck = cc.load_checkpoint(path, device="cpu")
    assert not ck.model.training
    assert ck.meta["dataset"] == "mnist" and ck.meta["arch"] == "mlp" and ck.meta["latent_dim"] == 50
    assert ck.meta["version"] == cc.__version__ and "test_elbo" in ck.meta and "test_recon" in ck.meta
    z = torch.randn(4, 50)
    with torch.no_grad():
        assert torch.equal(ck.model.decode(z), tiny.model.decode(z))
    assert ck.profile.layer == tiny_profile.layer
    np.testing.assert_array_equal(ck.profile.corr, tiny_profile.corr)
    np.testing.assert_array_equal(ck.profile.percent_active, tiny_profile.percent_active)


def test_it_round_trips_without_a_profile(tiny, tmp_path):
    cc.save_checkpoint(tmp_path / "m.pt", tiny.model, tiny.meta)
    assert cc.load_checkpoint(tmp_path / "m.pt").profile is None


def test_a_missing_file_raises_checkpoint_error(tmp_path):
    with pytest.raises(cc.CheckpointError, match="does not exist"):
        cc.load_checkpoint(tmp_path / "nope.pt")


def test_a_corrupt_file_raises_checkpoint_error(tiny, tmp_path):
    path = tmp_path / "m.pt"
    cc.save_checkpoint(path, tiny.model, tiny.meta)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(cc.CheckpointError, match="corrupt"):
        cc.load_checkpoint(path)


def test_a_foreign_torch_file_raises_checkpoint_error(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "x.pt")
    with pytest.raises(cc.CheckpointError, match="not a creative_core checkpoint"):
        cc.load_checkpoint(tmp_path / "x.pt")


def test_the_profile_survives_a_json_round_trip(tiny_profile):
    import json

    back = cc.ActivationProfile.from_dict(json.loads(json.dumps(tiny_profile.to_dict())))
    np.testing.assert_allclose(back.max, tiny_profile.max)
    assert back.layer == tiny_profile.layer and back.n_samples == tiny_profile.n_samples
