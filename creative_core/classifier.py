"""A small CNN classifier trained on the same data as the VAE: the source of the surrogate metrics that need
to know what the classes look like (surrogates.py: predictive entropy, top class probability, out-of-class
score, distance in its feature space).

Two 3x3 convolutions (32 and 64 channels, each followed by ReLU and 2x2 max-pooling), a 128-unit ReLU layer
(the "features") with dropout 0.25, and a linear layer to the classes. Adam, cross-entropy, one seed for
everything. Saved as a torch dict of plain types and tensors, read back with weights_only=True.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ._version import __version__
from .checkpoint import atomic_torch_save
from .datasets import training_set
from .device import model_device, pick_device
from .errors import CheckpointError

FORMAT = "creative_core.classifier/1"


class SmallCNN(nn.Module):
    def __init__(self, channels: int = 1, image_size: int = 28, n_classes: int = 10, features: int = 128) -> None:
        super().__init__()
        self.config = {"channels": channels, "image_size": image_size, "n_classes": n_classes, "features": features}
        self.n_classes = n_classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * (image_size // 4) ** 2, features), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(features, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class Classifier:
    """A trained classifier (eval mode) and what made it (data set, test accuracy, ...)."""

    model: SmallCNN
    meta: dict = field(default_factory=dict)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000, device=None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (n, classes), features (n, features)) on the CPU, computed in batches."""
    dev = pick_device(device) if device is not None else model_device(model)
    model.to(dev).eval()
    probs, feats = [], []
    for x in images.split(batch_size):
        f = model.features(x.to(dev))
        probs.append(F.softmax(model.head(f), dim=1).cpu())
        feats.append(f.cpu())
    return torch.cat(probs), torch.cat(feats)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000,
             device=None) -> float:
    probs, _ = predict(model, images, batch_size=batch_size, device=device)
    return float((probs.argmax(1) == labels).float().mean())


def train_classifier(dataset: str, *, epochs: int = 2, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                     limit: int | None = None, root: str | Path | None = None, device: str | None = None,
                     image_size: int = 64, channels: int = 3, progress: bool = True,
                     test_limit: int | None = None) -> Classifier:
    """Train on `dataset`'s training images; meta holds the test accuracy (on the whole test set, or on a fixed
    random `test_limit` of it). A data set with fewer than two classes has nothing to classify: ValueError."""
    start = time.time()
    dev = pick_device(device)
    torch.manual_seed(seed)
    train = training_set(dataset, root=root, limit=limit, image_size=image_size, channels=channels)
    test = training_set(dataset, root=root, limit=test_limit, image_size=image_size, channels=channels, train=False)
    c, s = train.images.shape[1], train.images.shape[-1]
    n_classes = int(max(train.labels.max(), test.labels.max())) + 1
    if n_classes < 2:
        raise ValueError(f"{dataset} has a single class: a classifier needs two or more (e.g. one sub-folder each)")
    model = SmallCNN(channels=c, image_size=s, n_classes=n_classes).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=g)
        bar = tqdm(total=len(train), desc=f"classifier {dataset} epoch {epoch}/{epochs}", disable=not progress,
                   unit="img")
        for i in range(0, len(train), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(train.images[idx].to(dev)), train.labels[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(len(idx))
        bar.close()
    model.eval()
    meta = {"dataset": dataset, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "limit": limit,
            "n_classes": n_classes, "test_accuracy": accuracy(model, test.images, test.labels, device=dev),
            "n_test": len(test), "version": __version__, "device": str(dev), "seconds": time.time() - start}
    return Classifier(model=model, meta=meta)


def save_classifier(path: str | Path, clf: Classifier) -> None:
    blob = {"format": FORMAT, "config": clf.model.config, "meta": clf.meta,
            "state_dict": {k: v.detach().cpu() for k, v in clf.model.state_dict().items()}}
    atomic_torch_save(blob, path)


def load_classifier(path: str | Path, *, device=None) -> Classifier:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"classifier {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"classifier {path} is corrupt or not a torch file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a creative_core classifier (format {FORMAT})")
    model = SmallCNN(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.to(pick_device(device)).eval()
    return Classifier(model=model, meta=dict(blob["meta"]))
