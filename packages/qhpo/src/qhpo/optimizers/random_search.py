"""Uniform random search (log parameters log-uniform): the baseline every optimiser must beat."""

from __future__ import annotations

from typing import Any

from qhpo.optimizers.base import History, Optimizer

__all__ = ["RandomOptimizer"]


class RandomOptimizer(Optimizer):
    name = "random"

    def suggest(self, history: History, n: int = 1) -> list[dict[str, Any]]:
        return self.space.sample(self.rng, n)
