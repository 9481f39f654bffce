"""Exact enumeration that proves the optimum, in bounded memory.

The variables are split into ``low`` (at most 16) and ``high`` bits. The energies of all
2^low assignments of the low bits are computed once; each block of high-bit assignments then
adds its own constant and its field on the low bits with one matrix product. Memory stays at
about 2^low x block floats whatever n is (dimod.ExactSolver builds a 2^n x n table instead).
"""

from __future__ import annotations

from typing import ClassVar

import dimod
import numpy as np

from qcore.errors import InvalidProblem, ProblemTooLarge, SolverTimeout
from qcore.solvers.base import Deadline, QcoreSampler, check_positive_int, check_sample_memory
from qcore.validation import ising_arrays, spins_to_vartype

MAX_VARIABLES = 26
LOW_BITS = 16
BLOCK = 64  # high-bit assignments per matrix product


def all_spin_states(n: int) -> np.ndarray:
    """``[2^n, n]`` array of every +-1 assignment (bit i of the row index -> spin i)."""
    codes = np.arange(2**n, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(n, dtype=np.int64)[None, :]) & 1
    return (2 * bits - 1).astype(np.float64)


class ExactSolver(QcoreSampler):
    """Proves the optimum by enumerating all 2^n assignments (n <= 26)."""

    name: ClassVar[str] = "exact"
    solver_parameters: ClassVar[dict[str, list]] = {"num_states": [], "max_variables": []}

    def _check(self, params: dict) -> dict:
        if "num_states" in params:
            params["num_states"] = check_positive_int("num_states", params["num_states"])
        if "max_variables" in params:
            params["max_variables"] = check_positive_int("max_variables", params["max_variables"])
            if params["max_variables"] > 30:
                raise InvalidProblem(
                    f"max_variables: {params['max_variables']}; at most 30 (2^30 states); "
                    "use another solver above that."
                )
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        num_states: int = 1,
        max_variables: int = MAX_VARIABLES,
        seed: int | None = None,  # enumeration is deterministic; accepted for a uniform API
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        n = bqm.num_variables
        if n > max_variables:
            raise ProblemTooLarge(
                f"exact enumeration handles at most {max_variables} variables, the model has {n}; "
                "use solver='auto' (or 'sa', 'tabu', 'sb'), or 'decompose' with exact sub-problems."
            )
        deadline = Deadline(time_limit)
        arrays = ising_arrays(bqm)
        h, J = arrays.h, arrays.J.toarray()
        low = min(n, LOW_BITS)
        high = n - low
        low_states = all_spin_states(low)
        h_low, J_ll, J_lh = h[:low], J[:low, :low], J[:low, low:]
        low_energy = low_states @ h_low + 0.5 * np.einsum("si,si->s", low_states @ J_ll, low_states)
        keep = min(num_states, 2**n)
        check_sample_memory("num_states", keep, n)
        best_e = np.full(0, np.inf)
        best_codes = np.zeros(0, dtype=np.int64)
        for start in range(0, 2**high, BLOCK):
            if deadline.expired():
                done = start / 2**high
                raise SolverTimeout(
                    f"exact enumeration ran out of its {time_limit:.3g} s budget after "
                    f"{done:.1%} of 2^{n} states; give it more time or use a heuristic solver."
                )
            codes = np.arange(start, min(start + BLOCK, 2**high), dtype=np.int64)
            bits = (codes[:, None] >> np.arange(high, dtype=np.int64)[None, :]) & 1
            s_high = (2 * bits - 1).astype(np.float64)  # [b, high]
            const = s_high @ h[low:] + 0.5 * np.einsum("bi,bi->b", s_high @ J[low:, low:], s_high)
            field = J_lh @ s_high.T  # [low, b]
            energy = low_energy[:, None] + low_states @ field + const[None, :]  # [2^low, b]
            flat = energy.ravel()
            take = min(keep, flat.size)
            idx = np.argpartition(flat, take - 1)[:take]
            low_idx, block_idx = np.divmod(idx, energy.shape[1])
            full_codes = low_idx.astype(np.int64) | (codes[block_idx] << low)
            best_e = np.concatenate([best_e, flat[idx]])
            best_codes = np.concatenate([best_codes, full_codes])
            if best_e.size > keep:
                order = np.argsort(best_e, kind="stable")[:keep]
                best_e, best_codes = best_e[order], best_codes[order]
        spins = (2 * ((best_codes[:, None] >> np.arange(n)[None, :]) & 1) - 1).astype(np.int8)
        samples = spins_to_vartype(spins, bqm.vartype)
        sampleset = dimod.SampleSet.from_samples_bqm((samples, arrays.variables), bqm)
        sampleset.info.update(
            {"proven_optimal": True, "states_enumerated": 2**n, "solver": self.name}
        )
        return sampleset
