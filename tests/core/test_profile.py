from __future__ import annotations

import numpy as np
import torch
from torch import nn

import creative_core as cc
from creative_core.activations import profile_images


class HandMade(nn.Module):
    """encode(x) = the two pixels of x; decoder: Linear(2, 3) with hand-set weights, ReLU, Linear(3, 1)."""

    latent_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.decoder = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        with torch.no_grad():
            self.decoder[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
            self.decoder[0].bias.zero_()

    def encode(self, x):
        z = x.flatten(1)
        return z, torch.zeros_like(z)

    def decode(self, z):
        return self.decoder(z)


def test_it_computes_the_profile_of_a_hand_made_decoder():
    z = torch.tensor([[1.0, 2.0], [-1.0, 3.0], [2.0, -1.0], [3.0, 1.0]])
    h = np.maximum(z.numpy() @ np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]).T, 0)  # units 0, 1, 2 (never on)
    model = HandMade()
    p = profile_images(model, z.view(4, 1, 1, 2), batch_size=3, progress=False)
    assert p.layer == "decoder.1" and p.n_samples == 4
    np.testing.assert_allclose(p.percent_active, [75.0, 75.0, 0.0])
    np.testing.assert_allclose(p.max, [3.0, 3.0, 0.0])
    np.testing.assert_allclose(p.mean_active, [2.0, 2.0, 0.0])
    np.testing.assert_allclose(p.std, h.std(0), rtol=1e-5)
    expected = np.corrcoef(h[:, 0], h[:, 1])[0, 1]
    np.testing.assert_allclose(p.corr[0, 1], expected, rtol=1e-5)
    np.testing.assert_allclose(np.diag(p.corr), 1.0)
    assert p.corr[0, 2] == 0 and p.corr[2, 1] == 0  # a constant unit correlates with nothing


def test_it_does_not_depend_on_the_batch_size(tiny, data_root):
    a = cc.profile(tiny.model, "mnist", limit=300, batch_size=300, root=data_root, progress=False)
    b = cc.profile(tiny.model, "mnist", limit=300, batch_size=7, root=data_root, progress=False)
    np.testing.assert_allclose(a.percent_active, b.percent_active)
    np.testing.assert_allclose(a.corr, b.corr, atol=1e-4)


def test_it_profiles_the_third_hidden_layer_by_default(tiny_profile):
    assert tiny_profile.layer == "decoder.act3" and tiny_profile.n_units == 1000
    assert tiny_profile.corr.shape == (1000, 1000)


def test_it_takes_a_layer_by_index_or_name(tiny, data_root):
    p = cc.profile(tiny.model, "mnist", layer=0, limit=100, root=data_root, progress=False)
    assert p.layer == "decoder.act1" and p.n_units == 250
    p = cc.profile(tiny.model, "mnist", layer="decoder.act2", limit=100, root=data_root, progress=False)
    assert p.n_units == 500
