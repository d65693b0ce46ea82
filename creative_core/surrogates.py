"""Surrogate metrics beyond D_r, per sample and vectorised over the batch (CPU or CUDA).

From a classifier's class probabilities p (classifier.py):
- entropy: -sum_l p_l log p_l in nats (0 for a one-hot output, log C for a uniform one);
- top probability: max_l p_l;
- out-of-class scores (Cherti, Kegl, Kazakci 2017, "Out-of-class novelty generation: an experimental
  foundation"): the classifier knows more classes than the generator was trained on (e.g. one trained on
  MNIST + Fashion-MNIST, 20 classes, judging a MNIST model's samples); the out-of-class max of a sample is
  max over the classes outside the training set of p_l, and its out-of-class count is 1 when that max exceeds a
  threshold and is the top class (their data-set-level scores are the means of these over the samples).
From the training images themselves:
- the distance to the nearest training image, in pixels (L2 on [0, 1]) and in the classifier's feature space
  (L2 on its 128 features). Exact: a float32 matrix product ranks the candidates, then the best `candidates` of
  each sample are measured directly in float64, so a training image's own distance is exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .classifier import predict
from .device import pick_device

# Every per-sample surrogate, in the order they are stored and shown. A score that a setting cannot give (no
# classifier, or no classes outside the training set) is NaN.
SURROGATE_NAMES: tuple[str, ...] = ("entropy", "top_probability", "out_of_class_max", "out_of_class_count",
                                    "nn_pixels", "nn_features")
DIGITS, CLOTHES = tuple(range(10)), tuple(range(10, 20))


def surrogate_recipe(dataset: str) -> tuple[str, tuple[int, ...] | None]:
    """(data set the classifier is trained on, the generator's classes among the classifier's, or None).

    One rule for every data set: the classifier knows the generator's classes and, where the platform has them,
    the classes of the other data set, so that the out-of-class scores of Cherti et al. are defined. A MNIST or
    a Fashion-MNIST model is judged by a classifier of MNIST + Fashion-MNIST (20 classes: digits 0-9, clothes
    10-19); the combined model by the same classifier, with no classes outside its own; an image folder by a
    classifier of its own sub-folders (its classes), with no out-of-class scores.
    """
    if dataset == "mnist":
        return "mnist+fmnist", DIGITS
    if dataset == "fmnist":
        return "mnist+fmnist", CLOTHES
    return dataset, None


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """(n,) predictive entropy in nats; 0 log 0 counts as 0."""
    return -torch.special.xlogy(probs, probs).sum(1)


def top_probability(probs: torch.Tensor) -> torch.Tensor:
    return probs.max(1).values


def _out_mask(n_classes: int, in_classes: Sequence[int], device) -> torch.Tensor:
    out = torch.ones(n_classes, dtype=torch.bool, device=device)
    out[torch.as_tensor(list(in_classes), dtype=torch.int64, device=device)] = False
    if not out.any():
        raise ValueError("the out-of-class scores need a classifier with classes outside the training set")
    return out


def out_of_class_max(probs: torch.Tensor, in_classes: Sequence[int]) -> torch.Tensor:
    """(n,) max over the classes not in `in_classes` of the class probability."""
    out = _out_mask(probs.shape[1], in_classes, probs.device)
    return probs[:, out].max(1).values


def out_of_class_count(probs: torch.Tensor, in_classes: Sequence[int], threshold: float = 0.95) -> torch.Tensor:
    """(n,) bool: the top class is out of class and its probability exceeds `threshold`."""
    out = _out_mask(probs.shape[1], in_classes, probs.device)
    top = probs.max(1)
    return out[top.indices] & (top.values > threshold)


@torch.no_grad()
def nearest(queries: torch.Tensor, reference: torch.Tensor, *, batch_size: int = 256, candidates: int = 8,
            device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance (n,) float64, index (n,) int64) of each query's nearest reference row (L2, flattened)."""
    dev = pick_device(device) if device is not None else reference.device
    ref = reference.flatten(1).to(dev, torch.float32)
    ref_sq = ref.pow(2).sum(1)
    k = min(candidates, len(ref))
    dists, idxs = [], []
    for q in queries.flatten(1).split(batch_size):
        q = q.to(dev, torch.float32)
        d2 = q.pow(2).sum(1, keepdim=True) + ref_sq[None, :] - 2.0 * q @ ref.T
        cand = d2.topk(k, dim=1, largest=False).indices  # (b, k)
        exact = (q[:, None, :].double() - ref[cand].double()).pow(2).sum(2).sqrt()
        best = exact.min(1)
        dists.append(best.values.cpu())
        idxs.append(cand.gather(1, best.indices[:, None])[:, 0].cpu())
    return torch.cat(dists), torch.cat(idxs)


FEATURE_SLICE = 5000  # training images per progress report while a scorer computes their features


class SurrogateScorer:
    """Every surrogate of a batch of images, against one training set and one classifier.

    The training images' features are computed once (at construction); `score(images)` then costs one
    classifier pass and two nearest-neighbour searches. `in_classes`: the generator's training classes among
    the classifier's (None: no out-of-class scores, e.g. when the classifier knows only those classes).
    `classifier` None (e.g. an image folder without classes): only the pixel distance; the rest is NaN.
    """

    def __init__(self, classifier: nn.Module | None, train_images: torch.Tensor, *,
                 in_classes: Sequence[int] | None = None, batch_size: int = 1000, device=None,
                 on_progress: Callable[[float], None] | None = None) -> None:
        """`on_progress(fraction)`: after each slice of the training images' features (the slow part)."""
        self.device = pick_device(device)
        self.classifier = None if classifier is None else classifier.to(self.device).eval()
        self.batch_size = batch_size
        self.in_classes = None if in_classes is None else list(in_classes)
        self.train_pixels = train_images.flatten(1).to(self.device, torch.float32)
        self.train_features = None
        if self.classifier is not None:
            feats = []
            for i, part in enumerate(train_images.split(FEATURE_SLICE)):
                feats.append(predict(self.classifier, part, batch_size=batch_size, device=self.device)[1])
                if on_progress is not None:
                    on_progress(min(1.0, (i + 1) * FEATURE_SLICE / len(train_images)))
            self.train_features = torch.cat(feats).to(self.device)

    def score(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """{name: (n,) float tensor on the CPU} for images (n, C, H, W) in [0, 1], every name of SURROGATE_NAMES
        (NaN where this scorer cannot give it)."""
        nan = torch.full((len(images),), float("nan"))
        out = dict.fromkeys(SURROGATE_NAMES, nan)
        out["nn_pixels"] = nearest(images, self.train_pixels, device=self.device)[0].float()
        if self.classifier is None:
            return out
        probs, feats = predict(self.classifier, images, batch_size=self.batch_size, device=self.device)
        out.update(entropy=entropy(probs), top_probability=top_probability(probs),
                   nn_features=nearest(feats, self.train_features, device=self.device)[0].float())
        if self.in_classes is not None:
            out["out_of_class_max"] = out_of_class_max(probs, self.in_classes)
            out["out_of_class_count"] = out_of_class_count(probs, self.in_classes).float()
        return out
