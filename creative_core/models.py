"""The two VAEs: the paper's MLP and a small convolutional one for image folders.

Both expose the same small interface that the rest of the library relies on:
- `encode(x) -> (mu, logvar)`, `decode_logits(z)`, `decode(z)` (images in [0, 1]), `latent_dim`;
- `hidden_layers`: the qualified names of the decoder's hidden activations (post-ReLU), in order, which is
  where the decoding schemes hook in (the paper's "decoder's 3rd hidden layer" is hidden_layers[2]);
- `config`: the constructor arguments, so a checkpoint can rebuild the model without being told them.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn


class MLPVAE(nn.Module):
    """784-1000-500-250-z encoder, mirrored decoder z-250-500-1000-784, ReLU, dropout 0.10 (the paper's)."""

    def __init__(self, input_shape: tuple[int, ...] = (1, 28, 28), latent_dim: int = 50,
                 hidden: tuple[int, ...] = (1000, 500, 250), dropout: float = 0.10) -> None:
        super().__init__()
        self.input_shape, self.latent_dim = tuple(input_shape), latent_dim
        self.config = {"arch": "mlp", "input_shape": list(input_shape), "latent_dim": latent_dim,
                       "hidden": list(hidden), "dropout": dropout}
        d = math.prod(input_shape)
        enc: OrderedDict[str, nn.Module] = OrderedDict()
        prev = d
        for i, h in enumerate(hidden, 1):
            enc[f"fc{i}"], enc[f"act{i}"], enc[f"drop{i}"] = nn.Linear(prev, h), nn.ReLU(), nn.Dropout(dropout)
            prev = h
        self.encoder = nn.Sequential(enc)
        self.mu, self.logvar = nn.Linear(prev, latent_dim), nn.Linear(prev, latent_dim)
        dec: OrderedDict[str, nn.Module] = OrderedDict()
        prev = latent_dim
        for i, h in enumerate(reversed(hidden), 1):
            dec[f"fc{i}"], dec[f"act{i}"], dec[f"drop{i}"] = nn.Linear(prev, h), nn.ReLU(), nn.Dropout(dropout)
            prev = h
        dec["out"] = nn.Linear(prev, d)
        self.decoder = nn.Sequential(dec)
        self.hidden_layers = [f"decoder.act{i}" for i in range(1, len(hidden) + 1)]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.input_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))


class ConvVAE(nn.Module):
    """Four stride-2 convolutions down, four transposed convolutions up; image_size must be a multiple of 16."""

    def __init__(self, channels: int = 3, image_size: int = 64, latent_dim: int = 128,
                 widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"ConvVAE needs image_size divisible by 16, got {image_size}")
        self.input_shape, self.latent_dim = (channels, image_size, image_size), latent_dim
        self.config = {"arch": "conv", "channels": channels, "image_size": image_size, "latent_dim": latent_dim,
                       "widths": list(widths)}
        b = image_size // 16
        enc: OrderedDict[str, nn.Module] = OrderedDict()
        prev = channels
        for i, w in enumerate(widths, 1):
            enc[f"conv{i}"], enc[f"act{i}"] = nn.Conv2d(prev, w, 4, 2, 1), nn.ReLU()
            prev = w
        enc["flat"] = nn.Flatten()
        self.encoder = nn.Sequential(enc)
        self.mu, self.logvar = nn.Linear(prev * b * b, latent_dim), nn.Linear(prev * b * b, latent_dim)
        rev = list(reversed(widths))
        dec: OrderedDict[str, nn.Module] = OrderedDict()
        dec["fc"], dec["unflat"], dec["act1"] = nn.Linear(latent_dim, rev[0] * b * b), nn.Unflatten(1, (rev[0], b, b)), nn.ReLU()
        for i, (a, o) in enumerate(zip(rev, rev[1:], strict=False), 1):
            dec[f"up{i}"], dec[f"act{i + 1}"] = nn.ConvTranspose2d(a, o, 4, 2, 1), nn.ReLU()
        dec["out"] = nn.ConvTranspose2d(rev[-1], channels, 4, 2, 1)
        self.decoder = nn.Sequential(dec)
        self.hidden_layers = [f"decoder.act{i}" for i in range(1, len(widths) + 1)]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


ARCHS = {"mlp": MLPVAE, "conv": ConvVAE}


def build_model(config: dict) -> nn.Module:
    """Rebuild a model from its `config` (as stored in a checkpoint)."""
    kwargs = dict(config)
    arch = kwargs.pop("arch", None)
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")
    for key in ("input_shape", "hidden", "widths"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return ARCHS[arch](**kwargs)


def decode(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images from latents for our VAEs (`decode`) or any generator called as model(z)."""
    return model.decode(z) if hasattr(model, "decode") else model(z)
