"""Counter-based random numbers: every random draw of sample i is a pure function of (seed, stream, i, j).

Why not torch.Generator? A generator's output depends on how many numbers were drawn before, so the i-th
sample would depend on the batch size and on where a job was resumed. Hashing the counters instead gives
identical samples for any batching, fully vectorised over the batch (no Python loop per sample).
The hash is splitmix64's finaliser, computed in wrapping int64 arithmetic.
"""

from __future__ import annotations

import math

import torch

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB

# Streams keep the independent uses of one seed apart.
STREAM_Z = 1
STREAM_UNITS = 2
STREAM_NOISE = 3
STREAM_PAIRS = 4


def _signed(x: int) -> int:
    x &= _M64
    return x - (1 << 64) if x >= (1 << 63) else x


def _srl(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ _srl(x, 30)
    x = x * _signed(_C1)
    x = x ^ _srl(x, 27)
    x = x * _signed(_C2)
    return x ^ _srl(x, 31)


def _mix_int(x: int) -> int:
    x &= _M64
    x ^= x >> 30
    x = (x * _C1) & _M64
    x ^= x >> 27
    x = (x * _C2) & _M64
    return x ^ (x >> 31)


def sample_keys(seed: int, stream: int, index: torch.Tensor) -> torch.Tensor:
    """One int64 key per sample index: the root of all of that sample's randomness in `stream`."""
    base = _mix_int(_mix_int(seed * _GOLDEN + 0x1234567) + stream * _GOLDEN)
    return _mix(index.to(torch.int64) * _signed(_GOLDEN) + _signed(base))


def _bits(keys: torch.Tensor, m: int) -> torch.Tensor:
    j = torch.arange(1, m + 1, dtype=torch.int64, device=keys.device)
    return _mix(keys[:, None] + j[None, :] * _signed(_C2 ^ _GOLDEN))


def uniform(keys: torch.Tensor, m: int) -> torch.Tensor:
    """(len(keys), m) float64 uniforms in the open interval (0, 1)."""
    return (_srl(_bits(keys, m), 11).to(torch.float64) + 0.5) / float(1 << 53)


def normal(keys: torch.Tensor, m: int) -> torch.Tensor:
    """(len(keys), m) float64 standard normals by Box-Muller over 2m uniforms."""
    u = uniform(keys, 2 * m)
    u1, u2 = u[:, 0::2], u[:, 1::2]
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
