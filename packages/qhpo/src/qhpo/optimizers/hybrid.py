"""``hybrid``: the Born machine explores the first trials, the GP refines from all of them."""

from __future__ import annotations

from typing import Any

from qhpo.optimizers.base import History, Optimizer
from qhpo.optimizers.gp import GPOptimizer
from qhpo.optimizers.vqc import VQCOptimizer
from qhpo.space import Space

__all__ = ["HybridOptimizer"]


class HybridOptimizer(Optimizer):
    name = "hybrid"

    def __init__(self, space: Space, seed: int | None = None, *, n_explore: int = 20) -> None:
        super().__init__(space, seed)
        self.n_explore = n_explore
        self.vqc = VQCOptimizer(space, seed)
        self.gp = GPOptimizer(space, seed, n_startup=1)

    def reseed(self, *keys: int) -> None:
        self.vqc.reseed(*keys)
        self.gp.reseed(*keys)

    def suggest(self, history: History, n: int = 1) -> list[dict[str, Any]]:
        if history.n_total < self.n_explore:
            return self.vqc.suggest(history, n)
        return self.gp.suggest(history, n)
