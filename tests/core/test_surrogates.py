"""The surrogate metrics on inputs whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from creative_core.classifier import SmallCNN, predict
from creative_core.datasets import training_set
from creative_core.surrogates import (
    SURROGATE_NAMES,
    SurrogateScorer,
    entropy,
    nearest,
    out_of_class_count,
    out_of_class_max,
    surrogate_recipe,
    top_probability,
)


def test_entropy_of_a_one_hot_output_is_zero_and_of_a_uniform_one_log_c():
    probs = torch.stack([torch.eye(10)[3], torch.full((10,), 0.1), torch.tensor([0.5, 0.5] + [0.0] * 8)])
    torch.testing.assert_close(entropy(probs), torch.tensor([0.0, math.log(10), math.log(2)]))
    torch.testing.assert_close(top_probability(probs), torch.tensor([1.0, 0.1, 0.5]))


def test_out_of_class_scores_look_only_outside_the_training_classes():
    # 4 classes; the generator was trained on classes 0 and 1.
    probs = torch.tensor([[0.97, 0.01, 0.01, 0.01],   # in class
                          [0.01, 0.01, 0.96, 0.02],   # confidently out of class
                          [0.40, 0.00, 0.35, 0.25],   # out-of-class mass, but the top class is in
                          [0.10, 0.10, 0.50, 0.30]])  # out of class, not confident
    torch.testing.assert_close(out_of_class_max(probs, [0, 1]), torch.tensor([0.01, 0.96, 0.35, 0.50]))
    assert out_of_class_count(probs, [0, 1]).tolist() == [False, True, False, False]
    assert out_of_class_count(probs, [0, 1], threshold=0.4).tolist() == [False, True, False, True]
    with pytest.raises(ValueError, match="outside the training set"):
        out_of_class_max(probs, [0, 1, 2, 3])


def test_a_training_images_nearest_neighbour_distance_is_zero(data_root):
    train = training_set("mnist", root=data_root, limit=3000)
    d, i = nearest(train.images[[5, 17, 2999]], train.images, batch_size=2)
    assert d.tolist() == [0.0, 0.0, 0.0]
    assert torch.equal(train.images[i], train.images[[5, 17, 2999]])


def test_nearest_is_the_brute_force_minimum(data_root):
    train = training_set("mnist", root=data_root, limit=3000).images
    queries = torch.rand(20, 1, 28, 28)
    queries[:5] = train[:5] + 0.01 * torch.randn(5, 1, 28, 28)  # near a training image
    d, i = nearest(queries, train, batch_size=7)
    full = torch.cdist(queries.flatten(1).double(), train.flatten(1).double())
    torch.testing.assert_close(d, full.min(1).values)
    assert torch.equal(i, full.argmin(1)) and i[:5].tolist() == [0, 1, 2, 3, 4]


def test_the_scorer_gives_every_metric_per_image(data_root):
    torch.manual_seed(0)
    train = training_set("mnist", root=data_root, limit=500)
    cnn = SmallCNN(n_classes=12).eval()  # untrained: the properties below hold for any classifier
    scorer = SurrogateScorer(cnn, train.images, in_classes=range(10), batch_size=64, device="cpu")
    images = torch.cat([train.images[:3], torch.rand(4, 1, 28, 28)])
    out = scorer.score(images)
    assert set(out) == {"entropy", "top_probability", "nn_pixels", "nn_features", "out_of_class_max",
                        "out_of_class_count"}
    assert all(v.shape == (7,) for v in out.values())
    assert out["nn_pixels"][:3].tolist() == [0.0] * 3 and (out["nn_pixels"][3:] > 1).all()
    assert (out["nn_features"][:3] < 1e-4).all()  # features may differ by rounding with the batch they run in
    probs, _ = predict(cnn, images)
    torch.testing.assert_close(out["entropy"], entropy(probs))
    assert ((out["entropy"] >= 0) & (out["entropy"] <= math.log(12) + 1e-6)).all()
    no_outside = SurrogateScorer(cnn, train.images[:50], device="cpu").score(images[:2])
    assert list(no_outside) == list(SURROGATE_NAMES)
    assert no_outside["out_of_class_max"].isnan().all() and no_outside["out_of_class_count"].isnan().all()
    assert not no_outside["entropy"].isnan().any()


def test_without_a_classifier_only_the_pixel_distance_is_given(data_root):
    train = training_set("mnist", root=data_root, limit=200)
    out = SurrogateScorer(None, train.images, device="cpu").score(torch.cat([train.images[:2], torch.zeros(1, 1, 28, 28)]))
    assert list(out) == list(SURROGATE_NAMES)
    assert out["nn_pixels"][:2].tolist() == [0.0, 0.0] and out["nn_pixels"][2] > 0
    assert all(out[name].isnan().all() for name in SURROGATE_NAMES if name != "nn_pixels")


def test_one_recipe_gives_every_data_set_a_classifier_with_outside_classes_where_there_are_some():
    assert surrogate_recipe("mnist") == ("mnist+fmnist", tuple(range(10)))
    assert surrogate_recipe("fmnist") == ("mnist+fmnist", tuple(range(10, 20)))
    assert surrogate_recipe("mnist+fmnist") == ("mnist+fmnist", None)
    assert surrogate_recipe("folder:/data/art") == ("folder:/data/art", None)
