"""Fixtures for the creative_core tests: real MNIST (fetched once into the default data root), a tiny trained VAE.

Everything is small (a 2,000-image subset, one epoch) so the whole folder runs in seconds on two CPU cores.
These tests never touch Django's database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import creative_core as cc


@pytest.fixture(scope="session")
def data_root() -> Path:
    return cc.fetch_data(datasets=["mnist"], progress=False)


@pytest.fixture(scope="session")
def tiny() -> cc.Trained:
    torch.set_num_threads(2)
    root = cc.fetch_data(datasets=["mnist"], progress=False)
    return cc.train("mnist", epochs=1, limit=2000, seed=0, root=root, progress=False, device="cpu")


@pytest.fixture(scope="session")
def tiny_profile(tiny: cc.Trained, data_root: Path) -> cc.ActivationProfile:
    return cc.profile(tiny.model, "mnist", limit=2000, root=data_root, progress=False)


def layer_io(model: torch.nn.Module, z: torch.Tensor, scheme: cc.Scheme | None, profile, seed: int = 0):
    """(activation before the scheme, activation after it) at the profile's layer for latents z (samples 0..n-1)."""
    name, module = cc.resolve_layer(model, profile.layer)
    seen = {}
    h1 = module.register_forward_hook(lambda m, i, o: seen.__setitem__("before", o.clone()))
    try:
        with torch.no_grad():
            model.decode(z)
    finally:
        h1.remove()
    after = seen["before"]
    if scheme is not None:
        scheme.prepare(profile, torch.device("cpu"))
        after, units, noise_seed = scheme.apply(seen["before"].clone(), torch.arange(len(z)), seed)
    return seen["before"], after
