"""Where privacy randomness comes from: the operating system's CSPRNG, or a labelled test mode.

Every draw that a differential-privacy guarantee rests on (DP-SGD noise, the Poisson coins
that pick each batch, the noise on released counts, client-level DP noise, the Poisson coins
that pick a round's clients) comes from a :class:`RandomSource`. There are two:

* :class:`SecureRandom` (the default everywhere): bytes from ``os.urandom``, the kernel's
  CSPRNG. Nobody else can reproduce a draw, whatever they know about the run (its config,
  seed, round, partition). Opacus' own secure mode needs ``torchcsprng``, which has no
  release for current torch, so the Gaussian is built here: Box-Muller on 53-bit uniforms,
  and, as Opacus' secure mode does against floating-point attacks on the noise (Holohan and
  Braghin 2021, section 5.1), each sample is the sum of four draws of std ``s`` divided by 2.
* :class:`SeededRandom`: NumPy's PCG64 from a seed, for tests and debugging that need the
  same noise twice. ``private`` is False: anyone who knows the seed can subtract the noise,
  so a run that uses it must say (in its log and report) that it is not private.
"""

from __future__ import annotations

import math
import os
from typing import Protocol, runtime_checkable

import numpy as np

from qfed.errors import InvalidConfig

__all__ = ["RandomSource", "SecureRandom", "SeededRandom", "random_source"]

_TWO_POW_53 = float(2**53)


@runtime_checkable
class RandomSource(Protocol):
    """Uniforms, Bernoulli coins and Gaussians for privacy mechanisms."""

    #: False when someone other than the drawing party can reproduce the draws
    private: bool

    def uniform(self, size: int) -> np.ndarray:
        """``size`` floats uniform on [0, 1)."""
        ...

    def bernoulli(self, size: int, p: float) -> np.ndarray:
        """``size`` independent coins, each True with probability ``p``."""
        ...

    def gaussian(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        """Independent N(0, std^2) samples (float64) of the given shape."""
        ...


class SecureRandom:
    """Draws from ``os.urandom`` (the kernel CSPRNG); nothing about the run reproduces them."""

    private = True

    def uniform(self, size: int) -> np.ndarray:
        size = int(size)
        if size <= 0:
            return np.empty(0, dtype=np.float64)
        words = np.frombuffer(os.urandom(8 * size), dtype=np.uint64)
        return (words >> np.uint64(11)).astype(np.float64) / _TWO_POW_53

    def bernoulli(self, size: int, p: float) -> np.ndarray:
        return self.uniform(size) < float(p)

    def _standard_normal(self, count: int) -> np.ndarray:
        pairs = (count + 1) // 2
        u = self.uniform(2 * pairs)
        radius = np.sqrt(-2.0 * np.log1p(-u[:pairs]))  # 1 - u is in (0, 1]: log is finite
        angle = 2.0 * math.pi * u[pairs:]
        return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:count]

    def gaussian(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if std == 0 or count == 0:
            return np.zeros(shape, dtype=np.float64)
        # four draws of N(0, s^2) summed and halved is N(0, s^2), and no longer carries the
        # floating-point fingerprint of a single Box-Muller output (Opacus' secure mode, n=2)
        total = np.zeros(count, dtype=np.float64)
        for _ in range(4):
            total += self._standard_normal(count)
        return (total * (float(std) / 2.0)).reshape(shape)

    def __repr__(self) -> str:
        return "SecureRandom(os.urandom)"


class SeededRandom:
    """Reproducible draws from a seed: test mode only, never private."""

    private = False

    def __init__(self, seed: int | np.random.Generator) -> None:
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def uniform(self, size: int) -> np.ndarray:
        return self.rng.random(int(size))

    def bernoulli(self, size: int, p: float) -> np.ndarray:
        return self.uniform(size) < float(p)

    def gaussian(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        if std == 0:
            return np.zeros(shape, dtype=np.float64)
        return self.rng.normal(0.0, float(std), size=shape)

    def __repr__(self) -> str:
        return "SeededRandom(test mode: not private)"


def random_source(seed: int | np.random.Generator | RandomSource | None = None) -> RandomSource:
    """``None``: the CSPRNG; an int or a NumPy generator: the seeded test source."""
    if seed is None:
        return SecureRandom()
    if isinstance(seed, SecureRandom | SeededRandom):
        return seed
    if isinstance(seed, np.random.Generator):
        return SeededRandom(seed)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidConfig(
            f"seed must be None (the CSPRNG), an int or a numpy Generator (test mode), got {seed!r}"
        )
    return SeededRandom(int(seed))
