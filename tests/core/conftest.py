"""Fixtures for the creative_core tests: real MNIST (fetched once into the default data root), a tiny trained VAE.

Everything is small (a 2,000-image subset, one epoch) so the whole folder runs in seconds on two CPU cores.
These tests never touch Django's database.
"""

from __future__ import annotations

import hashlib
import json
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


# Models that take minutes to train are cached under var/cache/, keyed by their recipe and the library version,
# so the suite trains each once per machine (a fresh CI checkout trains them once per run).
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache"


def _key(recipe: dict) -> str:
    blob = json.dumps({**recipe, "version": cc.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@pytest.fixture(scope="session")
def demo_model(data_root: Path) -> cc.Checkpoint:
    """The demo's model: DEMO_TRAINING, trained and profiled as `manage.py demo` does (train, then profile)."""
    from creative_core.training import DEMO_TRAINING

    path = CACHE / f"demo-model-{_key(DEMO_TRAINING)}.pt"
    if not path.is_file():
        torch.set_num_threads(2)
        recipe = dict(DEMO_TRAINING)
        dataset = recipe.pop("dataset")
        t = cc.train(dataset, root=data_root, progress=False, device="cpu", **recipe)
        prof = cc.profile(t.model, dataset, limit=recipe["limit"], root=data_root, progress=False, device="cpu")
        cc.save_checkpoint(path, t.model, t.meta, prof)
    return cc.load_checkpoint(path, device="cpu")


CLASSIFIER = {"dataset": "mnist", "epochs": 1, "limit": 10_000, "batch_size": 64, "seed": 0}


@pytest.fixture(scope="session")
def mnist_classifier(data_root: Path):
    """The small CNN on 10,000 MNIST images (one epoch), cached like the demo's model."""
    from creative_core.classifier import load_classifier, save_classifier, train_classifier

    path = CACHE / f"classifier-{_key(CLASSIFIER)}.pt"
    if not path.is_file():
        torch.set_num_threads(2)
        recipe = dict(CLASSIFIER)
        save_classifier(path, train_classifier(recipe.pop("dataset"), root=data_root, progress=False, device="cpu",
                                               **recipe))
    return load_classifier(path, device="cpu")
