"""Spin glasses with a planted ground state: the Wishart ensemble (Hamze et al., PRE 2020).

Hamze, Raymond, Pattison, Biswas, Katzgraber, "Wishart planted ensemble: a tunably rugged
pairwise Ising model with a first-order phase transition", Phys. Rev. E 101, 052102 (2020).

``M = round(alpha * N)`` Gaussian columns ``w_mu`` are drawn and projected orthogonal to the
planted state ``t``; the couplings are ``J = -W W^T / N`` without its diagonal. Then

    E(s) = -sum_{i<j} J_ij s_i s_j = (|W^T s|^2 - sum_i |W_i|^2) / (2 N),

which is smallest exactly where ``W^T s = 0``, so ``t`` (and ``-t``) is a ground state by
construction, whatever solver is asked. Small ``alpha`` is rugged and hard (a first-order
transition), large ``alpha`` is easy. The planted state is random (a gauge), so solvers see no
all-up bias.

>>> from qcore.planted import wishart
>>> inst = wishart(32, 0.5, seed=1)
>>> abs(inst.bqm.energy(inst.ground_state) - inst.ground_energy) < 1e-9
True
"""

from __future__ import annotations

from dataclasses import dataclass

import dimod
import numpy as np

from qcore.errors import InvalidProblem
from qcore.solvers.base import check_positive_int, check_real, check_seed

__all__ = ["PlantedInstance", "wishart"]

_SALT = 0x57495348  # "WISH"


@dataclass(frozen=True)
class PlantedInstance:
    """A model, its planted ground state (a spin sample) and that state's energy."""

    bqm: dimod.BinaryQuadraticModel
    ground_state: dict[int, int]
    ground_energy: float
    name: str

    def is_ground(self, energy: float, rel_tol: float = 1e-9) -> bool:
        """``energy`` equals the planted energy (up to round-off); nothing can be lower."""
        return energy <= self.ground_energy + rel_tol * max(1.0, abs(self.ground_energy))


def wishart(n: int, alpha: float, seed: int | None = None) -> PlantedInstance:
    """A dense ``n``-spin Wishart planted instance with ``round(alpha * n)`` columns.

    ``n >= 2``; ``alpha`` in (0, 1) keeps ``-t``, ``t`` the only ground states with
    overwhelming probability; larger ``alpha`` is allowed (easier, still planted).
    """
    n = check_positive_int("n", n, maximum=20_000)
    if n < 2:
        raise InvalidProblem(f"n: {n}; a spin glass needs at least 2 spins.")
    alpha = check_real("alpha", alpha, low=0, high=64, low_open=True, hint=" (e.g. 0.75)")
    m = max(1, round(alpha * n))
    # a salted stream: a solver seeded with the same integer must not draw the planted state
    # as its first random state (numpy's default_rng(seed) streams would coincide)
    seed = check_seed(seed)
    rng = np.random.default_rng(None if seed is None else [seed, _SALT])
    planted = rng.choice(np.array([-1, 1], dtype=np.int64), size=n)
    w = rng.standard_normal((n, m))
    # project every column orthogonal to the planted state: W^T t = 0
    w -= np.outer(planted, planted @ w) / n
    j = -(w @ w.T) / n
    np.fill_diagonal(j, 0.0)
    iu, ju = np.triu_indices(n, 1)
    # dimod's Ising energy is sum h s + sum_{i<j} J'_ij s_i s_j; ours is -sum J_ij s_i s_j
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.zeros(n), (iu, ju, -j[iu, ju]), 0.0, dimod.SPIN
    )
    state = {i: int(planted[i]) for i in range(n)}
    return PlantedInstance(
        bqm=bqm,
        ground_state=state,
        ground_energy=float(bqm.energy(state)),
        name=f"wishart-n{n}-a{alpha:g}-s{seed}",
    )
