"""Decomposition (qbsolv-style): a small solver works on a large problem, one piece at a time.

Like qbsolv (Booth, Reinhardt & Roy, D-Wave 2017), each outer iteration sorts the variables
by the energy impact of flipping them (most negative flip gain ``dE_i = -2 s_i f_i`` first,
ties broken by a seeded jitter) and cuts that order into sub-problems of at most ``sub_size``
variables. For each, the other variables are clamped at their current values (a linear field
on the sub-problem), the sub-problem goes to any registered sub-solver (``exact``, ``qaoa``,
``azure``, ``sa``, ...) and its best sample is accepted when it does not raise the energy.
Between passes a short tabu search on the whole model (dwave-samplers, started from the
current state) is the outer loop; ``outer_tabu=False`` switches it off so the sub-solver does
all the work (the benchmark reports both). The search stops after ``num_repeats`` outer
iterations without a new best, at ``max_iter``, or at ``time_limit``.

Sub-problems are built so that their energies are the full model's energies, so accepting a
sub-solution never needs the whole model to be re-evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dimod
import numpy as np
from dwave.samplers import TabuSampler

from qcore.errors import InvalidProblem, SolverTimeout
from qcore.solvers.base import (
    C_INT_MAX,
    Deadline,
    QcoreSampler,
    check_bool,
    check_mapping,
    check_positive_int,
    make_rng,
)
from qcore.validation import aligned_state, ising_arrays, spins_to_vartype

__all__ = ["DecompositionSolver", "clamped_subproblem"]


def clamped_subproblem(
    h: np.ndarray,
    J_dense: np.ndarray,
    spins: np.ndarray,
    field: np.ndarray,
    index: np.ndarray,
    energy: float,
) -> dimod.BinaryQuadraticModel:
    """The SPIN sub-model on ``index`` (labels 0..k-1) with the rest clamped at ``spins``.

    ``field = h + J @ spins``. The offset makes the sub-model's energy of any sub-assignment
    equal the full model's energy with the other variables unchanged.
    """
    sub_J = J_dense[np.ix_(index, index)]
    s_sub = spins[index].astype(np.float64)
    sub_h = field[index] - sub_J @ s_sub
    own = float(sub_h @ s_sub + 0.5 * s_sub @ sub_J @ s_sub)
    k = index.size
    rows, cols = np.triu_indices(k, 1)
    mask = sub_J[rows, cols] != 0
    return dimod.BinaryQuadraticModel.from_numpy_vectors(
        sub_h, (rows[mask], cols[mask], sub_J[rows, cols][mask]), energy - own, dimod.SPIN
    )


def _start_spins(
    initial_states: object, bqm: dimod.BinaryQuadraticModel, order: list
) -> np.ndarray:
    """The given starting state (see ``aligned_state``) as +-1 spins."""
    row = aligned_state(initial_states, order, "initial_states")
    allowed = {-1, 1} if bqm.vartype is dimod.SPIN else {0, 1}
    if not set(np.unique(row).tolist()) <= allowed:
        raise InvalidProblem(
            f"initial_states: values must be in {sorted(allowed)} for a {bqm.vartype.name} model."
        )
    return (row if bqm.vartype is dimod.SPIN else 2 * row - 1).astype(np.int8)


class DecompositionSolver(QcoreSampler):
    """qbsolv-style decomposition: sub-problems by energy impact, any sub-solver, tabu outer loop.

    Parameters (all keyword): ``sub_solver`` (registered name, "exact"), ``sub_size`` (16),
    ``sub_solver_params`` (dict for the sub-solver), ``num_repeats`` (outer iterations without
    a new best before stopping, 10), ``max_iter`` (outer iterations, unbounded),
    ``outer_tabu`` (run tabu search on the whole model between passes, True; False leaves
    all the work to the sub-solver), ``tabu_timeout`` (ms per outer tabu call, 100),
    ``initial_states`` (a starting state; default random).
    """

    name: ClassVar[str] = "decompose"
    solver_parameters: ClassVar[dict[str, list]] = {
        "sub_solver": [],
        "sub_size": [],
        "sub_solver_params": [],
        "num_repeats": [],
        "max_iter": [],
        "outer_tabu": [],
        "tabu_timeout": [],
        "initial_states": [],
    }

    def _check(self, params: dict) -> dict:
        from qcore.registry import get_solver, solver_names

        for name in ("sub_size", "num_repeats", "tabu_timeout"):
            if name in params:
                params[name] = check_positive_int(name, params[name], maximum=C_INT_MAX)
        if params.get("max_iter") is not None:
            params["max_iter"] = check_positive_int("max_iter", params["max_iter"])
        if "outer_tabu" in params:
            params["outer_tabu"] = check_bool("outer_tabu", params["outer_tabu"])
        sub_solver = params.get("sub_solver", "exact")
        names = [n for n in solver_names() if n != self.name]
        if not isinstance(sub_solver, str) or sub_solver not in names:
            raise InvalidProblem(
                f"sub_solver: {sub_solver!r}; name a registered solver other than 'decompose' "
                f"({', '.join(names)})."
            )
        reserved = dict.fromkeys(
            ("seed", "time_limit"), "the decomposition solver sets it for each sub-problem."
        )
        sub_params = check_mapping(
            "sub_solver_params", params.get("sub_solver_params"), reserved=reserved
        )
        if sub_params:
            sampler = get_solver(sub_solver)
            if isinstance(sampler, QcoreSampler):
                try:
                    sub_params = sampler.check_values(sub_params)
                except InvalidProblem as exc:
                    raise type(exc)(f"sub_solver_params (for {sub_solver!r}): {exc}") from None
        params["sub_solver_params"] = sub_params
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        sub_solver: str = "exact",
        sub_size: int = 16,
        sub_solver_params: Mapping[str, Any] | None = None,
        num_repeats: int = 10,
        max_iter: int | None = None,
        outer_tabu: bool = True,
        tabu_timeout: int = 100,
        initial_states: object = None,
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        from qcore.registry import get_solver

        deadline = Deadline(time_limit)
        sub_params = dict(sub_solver_params or {})
        sampler = get_solver(sub_solver)
        rng = make_rng(seed)
        arrays = ising_arrays(bqm)
        n = arrays.num_variables
        h = arrays.h
        J = arrays.J.toarray()
        spin_bqm = bqm if bqm.vartype is dimod.SPIN else bqm.change_vartype("SPIN", inplace=False)
        k = min(sub_size, n)
        if initial_states is None:
            spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
        else:
            spins = _start_spins(initial_states, bqm, arrays.variables)
        stats = {"iterations": 0, "sub_solves": 0, "sub_improvements": 0, "tabu_improvements": 0}
        proven = False

        def energy_of(s: np.ndarray) -> tuple[float, np.ndarray]:
            field = h + J @ s
            return float(arrays.offset + 0.5 * s @ (h + field)), field

        energy, field = energy_of(spins)
        best, best_energy = spins.copy(), energy
        since_best = 0
        out_of_time = False
        while not out_of_time:
            if stats["iterations"] and deadline.expired():
                break
            if max_iter is not None and stats["iterations"] >= max_iter:
                break
            if since_best >= num_repeats:
                break
            stats["iterations"] += 1
            # one pass: variables in order of flip impact, cut into sub-problems of size k
            gain = -2.0 * spins * field + 1e-9 * rng.random(n)
            order = np.argsort(gain, kind="stable")
            for start in range(0, n, k):
                if stats["sub_solves"] and deadline.expired():
                    out_of_time = True
                    break
                index = np.sort(order[start : start + k])
                sub = clamped_subproblem(h, J, spins, field, index, energy)
                kwargs = {**sub_params, "seed": int(rng.integers(0, 2**31 - 1))}
                if time_limit is not None:
                    kwargs["time_limit"] = max(deadline.remaining(), 1e-3)
                try:
                    ss = sampler.sample(sub, **kwargs)
                except SolverTimeout:
                    if stats["sub_solves"] == 0:
                        raise
                    out_of_time = True
                    break
                stats["sub_solves"] += 1
                first = ss.first
                if k == n:
                    proven = bool(ss.info.get("proven_optimal", False))
                new = np.asarray([first.sample[i] for i in range(index.size)], dtype=np.int8)
                delta = new.astype(np.float64) - spins[index]
                if float(first.energy) <= energy + 1e-9 and np.any(delta):
                    if float(first.energy) < energy - 1e-9:
                        stats["sub_improvements"] += 1
                    field += J[:, index] @ delta
                    spins[index] = new
                    energy = float(arrays.offset + 0.5 * spins @ (h + field))
            if outer_tabu and k < n and not deadline.expired():
                timeout = tabu_timeout
                if time_limit is not None:
                    timeout = max(1, min(timeout, int(1000 * deadline.remaining())))
                ts = TabuSampler().sample(
                    spin_bqm,
                    initial_states=(spins[None, :], arrays.variables),
                    timeout=timeout,
                    seed=int(rng.integers(0, 2**31 - 1)),
                )
                if float(ts.first.energy) < energy - 1e-9:
                    stats["tabu_improvements"] += 1
                    spins = np.asarray(
                        [ts.first.sample[v] for v in arrays.variables], dtype=np.int8
                    )
                    energy, field = energy_of(spins)
            if energy < best_energy - 1e-9:
                best, best_energy = spins.copy(), energy
                since_best = 0
            else:
                since_best += 1
            if k == n:
                break
        samples = spins_to_vartype(best[None, :], bqm.vartype)
        sampleset = dimod.SampleSet.from_samples_bqm((samples, arrays.variables), bqm)
        sampleset.info.update(
            {
                "solver": self.name,
                "sub_solver": sub_solver,
                "sub_size": k,
                "outer_tabu": bool(outer_tabu),
                **stats,
                "proven_optimal": proven,
            }
        )
        return sampleset
