"""Error mitigation for QAOA expectations: readout correction and zero-noise extrapolation.

Everything here works on measured counts (bit rows and their counts, qubit order), so the same
code serves a noisy simulation (``qaoa`` with ``noise=...``) and a hardware target (``azure``):

* **Readout** (tensored calibration, as in Qiskit Experiments' ``LocalReadoutError`` and M3's
  ``balanced=False`` calibration): two calibration circuits, all qubits prepared in ``|0>``
  and all in ``|1>``, measured on the same physical qubits as the QAOA circuit, give per-qubit
  assignment matrices ``A_i = [[P(0|0), P(0|1)], [P(1|0), P(1|1)]]``. The cost Hamiltonian has
  only ``Z_i`` and ``Z_i Z_j`` terms, so each term's expectation is corrected on its own one-
  or two-bit marginal with ``A_i^-1`` (``(A_i (x) A_j)^-1``): exact for the tensored model, no
  ``2^n`` vector, no M3 subspace truncation needed.
* **ZNE** (Temme, Bravyi & Gambetta 2017; Giurgica-Tiron et al. 2020, the scheme Mitiq
  implements): the transpiled circuit's two-qubit gates are folded, ``G -> G (G^dag G)^k``,
  which leaves the unitary unchanged and multiplies their noise; a scale factor ``lambda``
  folds every two-qubit gate ``(lambda - 1) // 2`` times and a random share of them once more
  (Mitiq's ``fold_gates_at_random`` with ``fidelities={"single": 1.0}``: one-qubit gates, an
  order of magnitude less noisy, are not folded). The expectations at each ``lambda`` are
  extrapolated to ``lambda = 0`` by Richardson (the Lagrange polynomial through all points,
  Mitiq's ``RichardsonFactory``) or a least-squares line (``LinearFactory``).

Mitiq itself is not a dependency: mitiq 1.1 pins ``numpy<2.3`` and the workspace locks a newer
numpy. The folding and the fits are a few lines each and are tested against closed forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qcore.errors import InvalidProblem
from qcore.solvers.hamiltonian import CostHamiltonian

__all__ = [
    "EXTRAPOLATIONS",
    "MITIGATIONS",
    "ReadoutCalibration",
    "extrapolate",
    "fold_two_qubit_gates",
    "hamiltonian_expectation",
    "mitigation_parts",
]

MITIGATIONS = ("none", "readout", "zne", "readout+zne")
EXTRAPOLATIONS = ("richardson", "linear")
DEFAULT_SCALE_FACTORS = (1.0, 3.0, 5.0)


def mitigation_parts(mitigation: str) -> tuple[bool, bool]:
    """``(readout, zne)`` for a mitigation name."""
    return "readout" in mitigation, "zne" in mitigation


def _term_arrays(ham: CostHamiltonian) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    zi = np.flatnonzero(ham.z)
    keep = ham.weights != 0
    return zi, ham.z[zi], ham.edges[keep].reshape(-1, 2), ham.weights[keep]


def hamiltonian_expectation(ham: CostHamiltonian, rows: np.ndarray, counts: np.ndarray) -> float:
    """``<H>`` estimated from measured bit rows ``[u, n]`` (qubit order) and their counts."""
    counts = np.asarray(counts, dtype=np.float64)
    w = counts / counts.sum()
    spins = 1.0 - 2.0 * np.asarray(rows, dtype=np.float64)  # Z eigenvalue of each bit
    zi, zc, edges, weights = _term_arrays(ham)
    value = ham.offset + float(zc @ (w @ spins[:, zi]))
    if edges.size:
        value += float(weights @ (w @ (spins[:, edges[:, 0]] * spins[:, edges[:, 1]])))
    return value


@dataclass(frozen=True)
class ReadoutCalibration:
    """Per-qubit assignment errors measured by the two calibration circuits.

    ``p1_given_0[i]`` is P(read 1 | prepared 0) on the qubit that carries variable ``i``,
    ``p0_given_1[i]`` is P(read 0 | prepared 1); ``shots`` is what the calibration used.
    """

    p1_given_0: np.ndarray
    p0_given_1: np.ndarray
    shots: int

    @classmethod
    def from_counts(
        cls,
        zeros: tuple[np.ndarray, np.ndarray],
        ones: tuple[np.ndarray, np.ndarray],
    ) -> ReadoutCalibration:
        """From the measured (rows, counts) of the all-``|0>`` and all-``|1>`` circuits."""
        r0, c0 = zeros
        r1, c1 = ones
        c0 = np.asarray(c0, dtype=np.float64)
        c1 = np.asarray(c1, dtype=np.float64)
        p10 = (c0 @ np.asarray(r0, dtype=np.float64)) / c0.sum()
        p01 = 1.0 - (c1 @ np.asarray(r1, dtype=np.float64)) / c1.sum()
        if np.any(p10 + p01 >= 1.0):
            bad = np.flatnonzero(p10 + p01 >= 1.0).tolist()
            raise InvalidProblem(
                f"mitigation: readout calibration of qubits {bad} is singular (P(1|0) + P(0|1) "
                ">= 1): their readout carries no information; mitigation='readout' cannot help."
            )
        return cls(p10, p01, int(c0.sum() + c1.sum()))

    @property
    def num_qubits(self) -> int:
        return int(self.p1_given_0.size)

    def inverse_matrices(self) -> np.ndarray:
        """``[n, 2, 2]``: ``A_i^-1`` for each qubit (columns: prepared 0, 1)."""
        e0, e1 = self.p1_given_0, self.p0_given_1
        a = np.empty((e0.size, 2, 2))
        a[:, 0, 0], a[:, 0, 1] = 1.0 - e0, e1
        a[:, 1, 0], a[:, 1, 1] = e0, 1.0 - e1
        return np.linalg.inv(a)

    def expectation(self, ham: CostHamiltonian, rows: np.ndarray, counts: np.ndarray) -> float:
        """Readout-corrected ``<H>`` from measured rows and counts (quasi-probabilities per
        one- and two-bit marginal; exact under the tensored readout model)."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = np.asarray(counts, dtype=np.float64)
        w = counts / counts.sum()
        inv = self.inverse_matrices()
        zi, zc, edges, weights = _term_arrays(ham)
        value = ham.offset
        if zi.size:
            p1 = w @ rows[:, zi]  # [k] marginal P(bit = 1)
            marg = np.stack([1.0 - p1, p1], axis=1)  # [k, 2]
            q = np.einsum("kab,kb->ka", inv[zi], marg)
            value += float(zc @ (q[:, 0] - q[:, 1]))
        if edges.size:
            i, j = edges[:, 0], edges[:, 1]
            code = 2 * rows[:, i] + rows[:, j]  # [u, m] joint outcome index (b_i b_j)
            joint = np.stack([w @ (code == c) for c in range(4)], axis=1).reshape(-1, 2, 2)
            q = np.einsum("mab,mcd,mbd->mac", inv[i], inv[j], joint)
            parity = np.array([[1.0, -1.0], [-1.0, 1.0]])
            value += float(weights @ np.einsum("mac,ac->m", q, parity))
        return value


def check_scale_factors(values: object) -> tuple[float, ...]:
    """At least two distinct finite scale factors, each >= 1, one of them 1."""
    message = (
        f"zne_scale_factors: {values!r}; pass at least two distinct numbers >= 1, including 1 "
        "(e.g. (1, 3, 5))."
    )
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidProblem(message)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise InvalidProblem(message)
        if not np.isfinite(float(v)) or float(v) < 1.0:
            raise InvalidProblem(message)
        out.append(float(v))
    if len(set(out)) < 2 or len(set(out)) != len(out) or 1.0 not in out:
        raise InvalidProblem(message)
    return tuple(out)


def extrapolate(scale_factors: Sequence[float], values: Sequence[float], method: str) -> float:
    """The zero-noise value: Richardson (polynomial through every point) or a fitted line."""
    x = np.asarray(scale_factors, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if method == "linear":
        _slope, intercept = np.polyfit(x, y, 1)
        return float(intercept)
    if method == "richardson":
        # Lagrange basis at 0: sum_k y_k prod_{j != k} x_j / (x_j - x_k)
        total = 0.0
        for k in range(x.size):
            others = np.delete(x, k)
            total += y[k] * float(np.prod(others / (others - x[k])))
        return total
    raise InvalidProblem(f"zne_extrapolation: {method!r}; use one of {EXTRAPOLATIONS}.")


def richardson_weights(scale_factors: Sequence[float]) -> np.ndarray:
    """The coefficients Richardson gives each point (they sum to 1; their squares say how much
    the extrapolation amplifies shot noise)."""
    x = np.asarray(scale_factors, dtype=np.float64)
    return np.array([np.prod(np.delete(x, k) / (np.delete(x, k) - x[k])) for k in range(x.size)])


def fold_two_qubit_gates(qc: Any, scale: float, rng: np.random.Generator) -> Any:
    """``qc`` (already transpiled) with its two-qubit gates folded to noise scale ``scale``.

    Each two-qubit gate ``G`` becomes ``G (G^dag G)^k``: ``k = (scale - 1) // 2`` for every
    gate, plus one more fold for a random ``((scale - 1) / 2 - k)`` share of them, so the
    two-qubit gate count is ``scale`` times the original (up to rounding). Barriers keep the
    folds apart; nothing may transpile the result again (it would cancel the folds).
    """
    from qiskit import QuantumCircuit

    positions = [i for i, ins in enumerate(qc.data) if _is_two_qubit_gate(ins.operation)]
    n2 = len(positions)
    half = (float(scale) - 1.0) / 2.0
    base = int(np.floor(half + 1e-9))
    extra = round((half - base) * n2)
    folds = np.full(n2, base, dtype=np.int64)
    if extra > 0:
        folds[rng.choice(n2, size=extra, replace=False)] += 1
    fold_at = dict(zip(positions, folds.tolist(), strict=True))
    out = QuantumCircuit(*qc.qregs, *qc.cregs, name=f"{qc.name}_fold{scale:g}")
    out.global_phase = qc.global_phase
    for i, ins in enumerate(qc.data):
        out.append(ins.operation, ins.qubits, ins.clbits)
        k = fold_at.get(i, 0)
        if k:
            inverse = ins.operation.inverse()
            for _ in range(k):
                out.barrier(ins.qubits)
                out.append(inverse, ins.qubits)
                out.barrier(ins.qubits)
                out.append(ins.operation, ins.qubits)
    if qc.layout is not None:
        out._layout = qc.layout  # keep the transpiler's layout with the copy
    return out


def _is_two_qubit_gate(op: Any) -> bool:
    return op.num_qubits == 2 and op.name not in ("barrier", "measure", "delay")


def count_two_qubit_gates(qc: Any) -> int:
    return sum(1 for ins in qc.data if _is_two_qubit_gate(ins.operation))
