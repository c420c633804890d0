"""Counter-based hashing RNG on int64 tensors (splitmix64).

A draw is a pure function of (seed, counter), so env i of a batch draws exactly what a lone
env seeded seed_i draws, on CPU and CUDA alike, and resuming needs only the counters.
torch int64 arithmetic wraps modulo 2^64, which is what splitmix64 relies on.
"""

from __future__ import annotations

import torch


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= (1 << 63) else x


_GAMMA = _signed(0x9E3779B97F4A7C15)
_MUL1 = _signed(0xBF58476D1CE4E5B9)
_MUL2 = _signed(0x94D049BB133111EB)


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift (torch's >> on int64 is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    z = x + _GAMMA
    z = (z ^ _shr(z, 30)) * _MUL1
    z = (z ^ _shr(z, 27)) * _MUL2
    return z ^ _shr(z, 31)


def hash_uniform_int(
    seeds: torch.Tensor, counters: torch.Tensor, n: torch.Tensor | int
) -> torch.Tensor:
    """int64 draws in [0, n) from (seed, counter) pairs; n >= 1."""
    bits = _shr(splitmix64(splitmix64(seeds) + counters), 11)  # 53 uniform non-negative bits
    return bits % n
