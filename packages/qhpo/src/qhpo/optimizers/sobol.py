"""Scrambled Sobol points (scipy.stats.qmc): space-filling, the usual initial design."""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import qmc

from qhpo.optimizers.base import History, Optimizer

__all__ = ["SobolOptimizer", "sobol_points"]


def sobol_points(d: int, start: int, n: int, seed: int | None) -> list[list[float]]:
    """Points ``start .. start+n-1`` of one scrambled Sobol sequence of dimension ``d``.

    The whole power-of-two block is drawn (cheap) so the sequence keeps its balance and the
    i-th point is the same whichever process asks for it.
    """
    m = max(1, math.ceil(math.log2(start + n)))
    block = qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)
    return block[start : start + n].tolist()


class SobolOptimizer(Optimizer):
    name = "sobol"

    def __init__(self, space, seed: int | None = None) -> None:
        super().__init__(space, seed)
        # one scramble per optimiser, so successive calls continue one sequence
        self._sobol_seed = seed if seed is not None else int(self.rng.integers(2**32))

    def suggest(self, history: History, n: int = 1) -> list[dict[str, Any]]:
        points = sobol_points(len(self.space), history.n_total, n, self._sobol_seed)
        return [self.space.from_flat(u) for u in points]
