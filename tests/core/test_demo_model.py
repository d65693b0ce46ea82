"""The demo's model (DEMO_TRAINING, what `manage.py demo` trains) is worth labeling: its regular samples look
like digits, and its low-active samples are clearly further from what the model can reconstruct."""

from __future__ import annotations

import torch

import creative_core as cc
from creative_core.classifier import predict
from creative_core.surrogates import top_probability

N = 1000  # the demo job's samples per scheme


def _samples(ck: cc.Checkpoint, scheme: str) -> cc.Samples:
    return cc.generate(ck.model, ck.profile, scheme, N, seed=0, progress=False)


def test_low_active_samples_are_clearly_further_than_regular_ones(demo_model):
    regular = cc.dr_amortised(demo_model.model, _samples(demo_model, "regular").images).mean()
    low = cc.dr_amortised(demo_model.model, _samples(demo_model, "low_active").images).mean()
    assert float(low / regular) >= 1.5, (float(regular), float(low))


def test_regular_samples_are_digits_not_blobs(demo_model, mnist_classifier, data_root):
    images = _samples(demo_model, "regular").images
    train = cc.training_images("mnist", N, root=data_root)
    # Blobs look alike: the pixels vary across samples far less than across training images.
    spread = float(images.flatten(1).var(0).mean())
    assert spread >= 0.2 * float(train.flatten(1).var(0).mean()), spread
    # Digits are recognised, and all ten of them: blobs would be read as a few classes, with little confidence.
    # (Measured on the demo's model: mean top probability 0.67, the rarest digit 4.5% of the samples.)
    probs, _ = predict(mnist_classifier.model, images)
    assert float(top_probability(probs).mean()) >= 0.55
    assert int(torch.bincount(probs.argmax(1), minlength=10).min()) >= 0.03 * N
