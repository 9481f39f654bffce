"""Standard test functions for hyperparameter optimisers, with their spaces and minima.

Domains follow the usual definitions (Surjanovic & Bingham's library; BoTorch's test
problems): Branin on [-5, 10] x [0, 15], Hartmann6 on [0, 1]^6, Ackley on
[-32.768, 32.768]^d, Rosenbrock on [-5, 10]^d.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qhpo.errors import UnknownProblem
from qhpo.space import Float, Space

__all__ = ["PROBLEMS", "Problem", "get_problem"]


@dataclass(frozen=True)
class Problem:
    name: str
    space: Space
    function: Callable[[np.ndarray], float]
    minimum: float

    def __call__(self, config: Mapping[str, Any]) -> float:
        return float(self.function(np.array([config[n] for n in self.space.names], dtype=float)))

    def regret(self, value: float) -> float:
        return max(float(value) - self.minimum, 0.0)


def branin(x: np.ndarray) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s)


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: np.ndarray) -> float:
    return float(-(_H_ALPHA * np.exp(-(_H_A * (x - _H_P) ** 2).sum(1))).sum())


def ackley(x: np.ndarray) -> float:
    d = len(x)
    return float(
        -20 * math.exp(-0.2 * math.sqrt((x * x).sum() / d))
        - math.exp(np.cos(2 * math.pi * x).sum() / d)
        + 20
        + math.e
    )


def rosenbrock(x: np.ndarray) -> float:
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def _box(prefix: str, bounds: list[tuple[float, float]]) -> Space:
    return Space([Float(f"{prefix}{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])


PROBLEMS: dict[str, Problem] = {
    "branin": Problem("branin", _box("x", [(-5, 10), (0, 15)]), branin, 0.397887357729738),
    "hartmann6": Problem("hartmann6", _box("x", [(0, 1)] * 6), hartmann6, -3.322368011391339),
    "ackley6": Problem("ackley6", _box("x", [(-32.768, 32.768)] * 6), ackley, 0.0),
    "rosenbrock4": Problem("rosenbrock4", _box("x", [(-5, 10)] * 4), rosenbrock, 0.0),
}


def get_problem(name: str) -> Problem:
    if name not in PROBLEMS:
        raise UnknownProblem(f"problem: {name!r} is not one of {sorted(PROBLEMS)}")
    return PROBLEMS[name]
