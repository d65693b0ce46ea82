"""Data sets as torch Datasets of (image CxHxW float in [0, 1], label).

- "mnist", "fmnist": torchvision's MNIST / FashionMNIST classes over the data root (raw idx files, see fetch.py).
  The uint8 images are turned into one float tensor up front: indexing a tensor is far cheaper than
  torchvision's per-item PIL round trip, and 60,000 28x28 images are only 188 MB as float32.
- "mnist+fmnist": both together, 20 classes: digits 0-9, then clothes as 10-19.
- "folder:/path": every JPEG/PNG under the folder (recursively), resized (shorter side) and centre-cropped to
  `image_size`, as grayscale (channels=1) or RGB (channels=3). Labels are the index of the first-level sub-folder
  (0 when the images lie directly in the folder). Train/test split: every 10th file (sorted order) is test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset, Subset

from .errors import DataError
from .fetch import default_data_root, raw_dir

DATASETS = ("mnist", "fmnist", "mnist+fmnist")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class TensorImages(Dataset):
    """Images already in memory as a float tensor (N, C, H, W) with integer labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


class ImageFolder(Dataset):
    """A folder of JPEG/PNG files, loaded lazily (folders such as CelebA do not fit in memory)."""

    def __init__(self, files: list[Path], labels: list[int], image_size: int, channels: int) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        self.files, self.labels, self.image_size, self.channels = files, labels, image_size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.files[i]) as im:
            im = im.convert("L" if self.channels == 1 else "RGB")
            s = self.image_size
            scale = s / min(im.size)
            w, h = max(s, round(im.width * scale)), max(s, round(im.height * scale))
            im = im.resize((w, h), Image.Resampling.BILINEAR)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
            arr = np.asarray(im, dtype=np.float32) / 255.0
        x = torch.from_numpy(arr.copy())
        x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)
        return x, self.labels[i]


def _idx(name: str, train: bool, root: Path) -> TensorImages:
    from torchvision import datasets as tvd

    cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
    if not (raw_dir(root, name) / "train-images-idx3-ubyte").is_file():
        raise DataError(f"{name} is not in {root}; run `python -m creative_core fetch-data --root {root}`")
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError as exc:
        raise DataError(f"cannot read {name} under {root}: {exc}; run `python -m creative_core fetch-data`") from exc
    return TensorImages(ds.data.unsqueeze(1).float().div_(255.0), ds.targets.clone())


def _folder(path: str, train: bool, image_size: int, channels: int) -> ImageFolder:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"no JPEG/PNG files under {folder}")
    if len(files) >= 10:
        files = [f for i, f in enumerate(files) if (i % 10 == 0) != train]
    classes = sorted({f.relative_to(folder).parts[0] for f in files if len(f.relative_to(folder).parts) > 1})
    index = {c: i for i, c in enumerate(classes)}
    labels = [index.get(f.relative_to(folder).parts[0], 0) if len(f.relative_to(folder).parts) > 1 else 0
              for f in files]
    return ImageFolder(files, labels, image_size, channels)


def load_dataset(name: str, *, train: bool = True, root: str | Path | None = None, limit: int | None = None,
                 image_size: int = 64, channels: int = 3) -> Dataset:
    """The named data set; `limit` keeps a fixed random subset (seed 0) so that classes stay mixed.

    `image_size` and `channels` apply only to image folders (MNIST-style sets are 1x28x28).
    """
    root = Path(root) if root is not None else default_data_root()
    if name in ("mnist", "fmnist"):
        ds: Dataset = _idx(name, train, root)
    elif name == "mnist+fmnist":
        fm = _idx("fmnist", train, root)
        ds = ConcatDataset([_idx("mnist", train, root), TensorImages(fm.images, fm.labels + 10)])
    elif name.startswith("folder:"):
        ds = _folder(name[len("folder:"):], train, image_size, channels)
    else:
        raise ValueError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)} or 'folder:/path/to/dir'")
    if limit is not None and limit < len(ds):  # type: ignore[arg-type]
        g = torch.Generator().manual_seed(0)
        keep = torch.randperm(len(ds), generator=g)[:limit].sort().values  # type: ignore[arg-type]
        ds = Subset(ds, keep.tolist())
    return ds


def as_tensor(ds: Dataset) -> TensorImages | None:
    """The in-memory tensors of a data set when it has them (fast path for training and profiling)."""
    if isinstance(ds, TensorImages):
        return ds
    if isinstance(ds, ConcatDataset) and all(isinstance(d, TensorImages) for d in ds.datasets):
        return TensorImages(torch.cat([d.images for d in ds.datasets]), torch.cat([d.labels for d in ds.datasets]))
    if isinstance(ds, Subset):
        inner = as_tensor(ds.dataset)
        if inner is not None:
            idx = torch.as_tensor(ds.indices)
            return TensorImages(inner.images[idx], inner.labels[idx])
    return None


def training_images(name: str, n: int, *, seed: int = 0, root: str | Path | None = None, image_size: int = 64,
                    channels: int = 3, train: bool = True) -> torch.Tensor:
    """(n, C, H, W) images drawn at random (by `seed`) from the training split, e.g. for the annotators' priming
    grid, or with train=False from the held-out test split (never seen in training). Fewer than n when the split
    has fewer images."""
    ds = load_dataset(name, train=train, root=root, image_size=image_size, channels=channels)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n]  # type: ignore[arg-type]
    if not len(idx):
        return torch.empty(0)
    return torch.stack([ds[int(i)][0] for i in idx])


def training_set(name: str, *, root: str | Path | None = None, limit: int | None = None, image_size: int = 64,
                 channels: int = 3, train: bool = True) -> TensorImages:
    """The whole (training) set in memory as (images, labels) tensors, image folders included."""
    ds = load_dataset(name, train=train, root=root, limit=limit, image_size=image_size, channels=channels)
    t = as_tensor(ds)
    if t is not None:
        return t
    pairs = [ds[i] for i in range(len(ds))]  # type: ignore[arg-type]
    return TensorImages(torch.stack([x for x, _ in pairs]), torch.as_tensor([y for _, y in pairs], dtype=torch.int64))
