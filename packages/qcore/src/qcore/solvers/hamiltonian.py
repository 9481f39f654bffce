"""The cost Hamiltonian of a BQM: the diagonal Ising operator a QAOA circuit evolves under.

Convention (the same for every backend here): qubit ``i`` carries variable ``variables[i]``,
and measuring qubit ``i`` as ``1`` means ``x_i = 1`` (BINARY) or ``s_i = +1`` (SPIN). With
``Z_i |b> = (1 - 2 b_i) |b>`` that is ``s_i = -Z_i``, so for the model's spin form
``E(s) = offset + sum_i h_i s_i + sum_{i<j} J_ij s_i s_j``

    H = offset + sum_i (-h_i) Z_i + sum_{i<j} J_ij Z_i Z_j

and ``<b|H|b> = E(b)`` for every basis state. Weights and linear terms are kept (PennyLane's
``qml.qaoa.maxcut`` drops edge weights; this builds the operator from the model itself).
Basis-state indices are little-endian: bit ``i`` of the index is qubit ``i`` (Qiskit's order).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import dimod
import numpy as np
import scipy.sparse as sp

from qcore.validation import ising_arrays, spins_to_vartype

__all__ = ["CostHamiltonian", "cost_hamiltonian"]


@dataclass(frozen=True)
class CostHamiltonian:
    """``H = offset + sum_i z[i] Z_i + sum_k weights[k] Z_{edges[k,0]} Z_{edges[k,1]}``."""

    variables: list[Hashable]
    z: np.ndarray  # [n] coefficient of Z_i
    edges: np.ndarray  # [m, 2] qubit pairs, i < j
    weights: np.ndarray  # [m] coefficient of Z_i Z_j
    offset: float
    vartype: dimod.Vartype  # of the model the operator was built from

    @property
    def num_qubits(self) -> int:
        return len(self.variables)

    @property
    def scale(self) -> float:
        """A typical coefficient size, for angle normalisation.

        ``2 * rms`` of the non-zero coefficients: 1.0 for unweighted Max-Cut
        (``J_ij = 1/2``), so the Max-Cut fixed angles apply unchanged there and scale
        sensibly (gamma / scale) to weighted models.
        """
        coeffs = np.concatenate([self.z[self.z != 0], self.weights[self.weights != 0]])
        if coeffs.size == 0:
            return 1.0
        return float(2.0 * np.sqrt(np.mean(coeffs**2)))

    def pauli_terms(self) -> list[tuple[str, tuple[int, ...], float]]:
        """The non-identity terms as ``(pauli, qubits, coefficient)``; the offset is separate."""
        terms: list[tuple[str, tuple[int, ...], float]] = [
            ("Z", (i,), float(c)) for i, c in enumerate(self.z) if c != 0
        ]
        terms += [
            ("ZZ", (int(i), int(j)), float(w))
            for (i, j), w in zip(self.edges, self.weights, strict=True)
            if w != 0
        ]
        return terms

    def diagonal(self) -> np.ndarray:
        """``<b|H|b>`` for every basis state ``b`` (little-endian index), length ``2^n``."""
        n = self.num_qubits
        index = np.arange(2**n, dtype=np.int64)
        zs = [(1 - 2 * ((index >> i) & 1)).astype(np.int8) for i in range(n)]
        diag = np.full(2**n, self.offset, dtype=np.float64)
        for i, c in enumerate(self.z):
            if c != 0:
                diag += c * zs[i]
        for (i, j), w in zip(self.edges, self.weights, strict=True):
            if w != 0:
                diag += w * (zs[i] * zs[j])
        return diag

    def energies(self, bits: np.ndarray) -> np.ndarray:
        """Energies of a ``[k, n]`` array of measured bits (0/1, qubit order)."""
        zs = 1.0 - 2.0 * np.asarray(bits, dtype=np.float64)
        pair = np.einsum("km,m->k", zs[:, self.edges[:, 0]] * zs[:, self.edges[:, 1]], self.weights)
        return self.offset + zs @ self.z + pair

    def bits_to_samples(self, bits: np.ndarray) -> np.ndarray:
        """Measured bits -> the model's own values (BINARY: the bit; SPIN: 2 * bit - 1)."""
        spins = 2 * np.asarray(bits, dtype=np.int8) - 1
        return spins_to_vartype(spins, self.vartype)

    def to_pennylane(self) -> Any:
        """The operator as a PennyLane ``Hamiltonian`` (identity term carries the offset)."""
        import pennylane as qml

        coeffs: list[float] = [self.offset]
        ops: list[Any] = [qml.Identity(0)]
        for pauli, qubits, c in self.pauli_terms():
            coeffs.append(c)
            ops.append(qml.Z(qubits[0]) if pauli == "Z" else qml.Z(qubits[0]) @ qml.Z(qubits[1]))
        return qml.Hamiltonian(coeffs, ops)

    def to_sparse_pauli_op(self, *, include_offset: bool = False) -> Any:
        """The operator as a Qiskit ``SparsePauliOp`` (little-endian qubits, like ours)."""
        from qiskit.quantum_info import SparsePauliOp

        terms: list[tuple[str, list[int], float]] = [
            (pauli, list(qubits), c) for pauli, qubits, c in self.pauli_terms()
        ]
        if include_offset or not terms:
            terms.append(("", [], self.offset if include_offset else 0.0))
        return SparsePauliOp.from_sparse_list(terms, num_qubits=self.num_qubits).simplify(atol=0.0)


def cost_hamiltonian(bqm: dimod.BinaryQuadraticModel) -> CostHamiltonian:
    """Build the cost Hamiltonian of ``bqm`` (see the module docstring for the convention)."""
    arrays = ising_arrays(bqm)
    upper = sp.triu(arrays.J, k=1).tocoo()
    edges = np.stack([upper.row, upper.col], axis=1).astype(np.int64).reshape(-1, 2)
    weights = np.asarray(upper.data, dtype=np.float64)
    keep = weights != 0  # BINARY -> SPIN conversion can cancel couplings exactly
    edges, weights = edges[keep], weights[keep]
    return CostHamiltonian(
        variables=list(arrays.variables),
        z=-np.asarray(arrays.h, dtype=np.float64),
        edges=edges,
        weights=weights,
        offset=float(arrays.offset),
        vartype=bqm.vartype,
    )
