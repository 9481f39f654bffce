"""What every optimiser sees and returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qhpo.space import Space

__all__ = ["History", "Optimizer"]


@dataclass
class History:
    """The trials an optimiser may learn from.

    ``observed``/``values``: complete trials (finite values, lower is better); ``failed``:
    configurations whose objective failed (NaN/inf); ``pending``: asked and not told yet
    (other workers are running them); ``n_total``: every trial so far, of all states
    (pending included).
    """

    observed: list[dict[str, Any]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    n_total: int = 0


class Optimizer(ABC):
    """Suggests configurations for a space. Deterministic for a given seed and history."""

    name: str = "base"

    def __init__(self, space: Space, seed: int | None = None) -> None:
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def suggest(self, history: History, n: int = 1) -> list[dict[str, Any]]:
        """``n`` new configurations (a batch for workers running at once)."""

    def reseed(self, *keys: int) -> None:
        """Derive the generator from the seed and ``keys`` (e.g. a trial number), so that a
        process that starts late draws what the first one would have."""
        base = [] if self.seed is None else [int(self.seed)]
        self.rng = np.random.default_rng([*base, *map(int, keys)] if base else None)


def as_list(x: Sequence[Any] | None) -> list[Any]:
    return list(x) if x is not None else []
