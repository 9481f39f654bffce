"""Checks every model passes before a solver sees it, and the array views solvers work on."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import dimod
import numpy as np
import scipy.sparse as sp

from qcore.errors import InvalidProblem


def validate_bqm(
    bqm: object, *, name: str = "bqm", require_variables: bool = False
) -> dimod.BinaryQuadraticModel:
    """Return ``bqm`` if it is a usable binary quadratic model, else raise ``InvalidProblem``.

    Usable means: a ``dimod.BinaryQuadraticModel`` (SPIN or BINARY) whose biases and offset
    are all finite. A model without variables is usable (dimod's convention: its one, empty,
    assignment has the offset as its energy) unless ``require_variables`` is set.
    """
    if isinstance(bqm, dimod.ConstrainedQuadraticModel):
        raise InvalidProblem(
            f"{name}: got a ConstrainedQuadraticModel; solvers take a BinaryQuadraticModel. "
            "Build a penalised model with qcore.constraints.to_bqm(cqm) (or dimod.cqm_to_bqm)."
        )
    if isinstance(bqm, dimod.QuadraticModel) and not isinstance(bqm, dimod.BinaryQuadraticModel):
        vartypes = {bqm.vartype(v).name for v in bqm.variables}
        raise InvalidProblem(
            f"{name}: got a QuadraticModel with vartypes {sorted(vartypes)}; solvers take a "
            "BinaryQuadraticModel with SPIN or BINARY variables. Convert integer variables "
            "with dimod.QuadraticModel -> dimod.BinaryQuadraticModel (binary expansion) first."
        )
    if not isinstance(bqm, dimod.BinaryQuadraticModel):
        raise InvalidProblem(
            f"{name}: expected dimod.BinaryQuadraticModel, got {type(bqm).__name__}. "
            "Build one with dimod.BinaryQuadraticModel(linear, quadratic, offset, 'BINARY') or "
            "dimod.BQM.from_qubo(Q) / dimod.BQM.from_ising(h, J)."
        )
    if require_variables and bqm.num_variables == 0:
        raise InvalidProblem(f"{name}: the model has no variables; add at least one variable.")
    linear, (_, _, quad), offset = bqm.to_numpy_vectors()
    if not math.isfinite(float(offset)):
        raise InvalidProblem(f"{name}: the offset is {offset}; it must be a finite number.")
    for kind, values in (("linear", linear), ("quadratic", quad)):
        if values.size and not np.all(np.isfinite(values)):
            bad = _first_bad_bias(bqm, kind)
            raise InvalidProblem(
                f"{name}: {kind} bias {bad[0]!r} is {bad[1]}; every bias must be a finite "
                "number (check for division by zero or overflow when the model was built)."
            )
    return bqm


def _first_bad_bias(bqm: dimod.BinaryQuadraticModel, kind: str) -> tuple[object, float]:
    items = bqm.linear.items() if kind == "linear" else bqm.quadratic.items()
    for key, value in items:
        if not math.isfinite(value):
            return key, value
    return "?", float("nan")


@dataclass(frozen=True)
class IsingArrays:
    """``E(s) = offset + h @ s + 0.5 * s @ J @ s`` for ``s`` in {-1, +1}^n; ``J`` symmetric.

    ``J`` is a CSR matrix with a zero diagonal. ``variables`` gives the label of each index.
    """

    h: np.ndarray
    J: sp.csr_matrix
    offset: float
    variables: list[Hashable]

    @property
    def num_variables(self) -> int:
        return len(self.variables)

    @property
    def density(self) -> float:
        n = self.num_variables
        return 0.0 if n < 2 else self.J.nnz / (n * (n - 1))

    def energies(self, spins: np.ndarray) -> np.ndarray:
        """Energies of a ``[reads, n]`` array of +-1 spins."""
        spins = np.asarray(spins, dtype=np.float64)
        return self.offset + spins @ self.h + 0.5 * np.einsum("ri,ri->r", spins @ self.J, spins)


def ising_arrays(
    bqm: dimod.BinaryQuadraticModel, variable_order: Sequence[Hashable] | None = None
) -> IsingArrays:
    """Array form of ``bqm`` in the spin domain (converted if the model is BINARY)."""
    spin = bqm if bqm.vartype is dimod.SPIN else bqm.change_vartype(dimod.SPIN, inplace=False)
    order = list(spin.variables) if variable_order is None else list(variable_order)
    h, (row, col, q), offset = spin.to_numpy_vectors(variable_order=order)
    n = len(order)
    J = sp.coo_matrix(
        (np.concatenate([q, q]), (np.concatenate([row, col]), np.concatenate([col, row]))),
        shape=(n, n),
    ).tocsr()
    J.sum_duplicates()
    return IsingArrays(np.asarray(h, dtype=np.float64), J, float(offset), order)


def spins_to_vartype(spins: np.ndarray, vartype: dimod.Vartype) -> np.ndarray:
    """Map +-1 spins to the model's own vartype (BINARY: (s + 1) / 2)."""
    spins = np.asarray(spins, dtype=np.int8)
    return spins if vartype is dimod.SPIN else ((spins + 1) // 2).astype(np.int8)


def aligned_state(states: object, order: Sequence[Hashable], field: str) -> np.ndarray:
    """One user-given state as a float vector in ``order``: the lowest-energy sample of a
    SampleSet, else the first of anything ``dimod.as_samples`` reads (dict, list, array)."""
    if isinstance(states, dimod.SampleSet):
        if len(states) == 0:
            raise InvalidProblem(f"{field}: the SampleSet is empty.")
        states = dict(states.first.sample)
    try:
        array, labels = dimod.as_samples(states)
    except (TypeError, ValueError) as exc:
        raise InvalidProblem(
            f"{field}: could not read as samples ({exc}); pass a dict {{variable: value}} or "
            "a dimod.SampleSet."
        ) from None
    if len(array) == 0 or set(labels) != set(order):
        raise InvalidProblem(f"{field}: its variables do not match the model's variables.")
    index = {v: i for i, v in enumerate(labels)}
    return np.asarray(array, dtype=np.float64)[0, [index[v] for v in order]]
