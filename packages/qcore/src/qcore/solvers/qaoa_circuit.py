"""What a QAOA backend simulates, and the interface every backend implements.

This module sits below the QAOA solver (``qcore.solvers.qaoa``) and its backends
(``qaoa_pennylane``, ``qaoa_aer``) and imports neither: the solver builds a
:class:`QAOACircuit` and hands it to a backend; the backends only need this description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qcore.solvers.hamiltonian import CostHamiltonian

__all__ = ["QAOABackend", "QAOACircuit"]


@dataclass(frozen=True)
class QAOACircuit:
    """What a backend simulates: the cost Hamiltonian, the depth, and the warm start if any."""

    hamiltonian: CostHamiltonian
    p: int
    warm_thetas: np.ndarray | None = None  # RY angle per qubit; None: |+>^n and the X mixer


class QAOABackend(Protocol):
    """A simulator of a :class:`QAOACircuit`: exact expectations, probabilities and shots."""

    name: str

    def expectation(self, gammas: np.ndarray, betas: np.ndarray) -> float: ...

    def probabilities(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray: ...

    def sample(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]: ...
