"""The routing problem as a BQM through qcore, and the hybrid that warm-starts it.

Variables ``("x", t, e)`` are 1 when token ``t`` goes to expert ``e``. Energy (minimised):
``-sum value[t, e] x[t, e]`` plus ``penalty * (row - target)^2`` for every token and expert,
with binary slack bits ``("s", e, b)`` for the inequality side (experts hold at most ``C``
when capacity suffices; tokens take at most ``k`` when it does not). When ``E * C == T * k``
both sides are equalities and no slack is needed. With ``penalty`` above twice the largest
``|value|``, every violation costs more than any affinity it could buy, so the ground state
is the balanced optimum.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import dimod
import numpy as np
import qcore

from qrouting.assign import enforce_capacity, refill
from qrouting.errors import InvalidRouting, RouterFailed
from qrouting.plan import RoutingPlan, build_plan, plan_objective
from qrouting.problem import RoutingProblem
from qrouting.routers import Router, _check_positive, get_router


def _slack_coefficients(upper: int) -> list[int]:
    """Bounded binary expansion: coefficients whose subset sums cover exactly 0..upper."""
    coeffs: list[int] = []
    total = 0
    power = 1
    while total + power <= upper:
        coeffs.append(power)
        total += power
        power *= 2
    if total < upper:
        coeffs.append(upper - total)
    return coeffs


def _add_squared(
    bqm: dimod.BinaryQuadraticModel, terms: Sequence[tuple[Any, float]], rhs: float, weight: float
) -> None:
    """Add ``weight * (sum_i c_i x_i - rhs)^2`` for binary ``x``."""
    for i, (vi, ci) in enumerate(terms):
        bqm.add_linear(vi, weight * (ci * ci - 2.0 * rhs * ci))
        for vj, cj in terms[i + 1 :]:
            bqm.add_quadratic(vi, vj, 2.0 * weight * ci * cj)
    bqm.offset += weight * rhs * rhs


def routing_bqm(
    problem: RoutingProblem, penalty: float | None = None
) -> dimod.BinaryQuadraticModel:
    """The BQM of ``problem`` (see the module docstring for the encoding)."""
    V = problem.value
    T, E, k, C = problem.num_tokens, problem.num_experts, problem.k, problem.capacity
    lam = float(penalty) if penalty is not None else 2.0 * float(np.abs(V).max()) + 1.0
    bqm = dimod.BinaryQuadraticModel("BINARY")
    for t in range(T):
        for e in range(E):
            bqm.add_variable(("x", t, e), -float(V[t, e]))
    tokens_exact = problem.slots >= problem.demand
    experts_exact = problem.slots <= problem.demand
    for t in range(T):
        terms: list[tuple[Any, float]] = [(("x", t, e), 1.0) for e in range(E)]
        if not tokens_exact:  # at most k: slack for k - placed
            terms += [(("s", "t", t, b), float(c)) for b, c in enumerate(_slack_coefficients(k))]
        _add_squared(bqm, terms, float(k), lam)
    for e in range(E):
        if C >= T and not experts_exact:
            continue  # an expert can hold every token: no constraint
        terms = [(("x", t, e), 1.0) for t in range(T)]
        if not experts_exact:
            upper = min(C, T)
            coeffs = _slack_coefficients(upper)
            terms += [(("s", "e", e, b), float(c)) for b, c in enumerate(coeffs)]
            rhs = float(upper)
        else:
            rhs = float(C)
        _add_squared(bqm, terms, rhs, lam)
    return bqm


def decode(problem: RoutingProblem, sample: dict[Any, int]) -> tuple[np.ndarray, int]:
    """Indices ``[T, k]`` from a sample, repaired to a feasible routing, and the number of
    constraint violations the raw sample had (tokens off ``k``, experts over ``C``)."""
    T, E, k, C = problem.num_tokens, problem.num_experts, problem.k, problem.capacity
    x = np.array([[sample.get(("x", t, e), 0) for e in range(E)] for t in range(T)], dtype=bool)
    per_token = x.sum(axis=1)
    loads = x.sum(axis=0)
    target = k if problem.slots >= problem.demand else None
    bad_tokens = int((per_token != k).sum()) if target is not None else int((per_token > k).sum())
    violations = bad_tokens + int((loads > C).sum())
    score = np.where(x, problem.value, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")[:, :k]
    ok = np.take_along_axis(x, order, axis=1)
    choices = np.where(ok, order, -1)
    prio = np.where(ok, np.take_along_axis(problem.value, np.maximum(order, 0), axis=1), -np.inf)
    idx = enforce_capacity(choices, prio, E, C, order="score")
    idx = refill(idx, problem.value, C)
    return idx, violations


def encode(problem: RoutingProblem, indices: np.ndarray) -> dict[Any, int]:
    """A BQM sample for a feasible routing (slack bits set to absorb the free capacity)."""
    bqm_vars = routing_bqm(problem).variables
    sample = {v: 0 for v in bqm_vars}
    T, E, k = problem.num_tokens, problem.num_experts, problem.k
    for t in range(T):
        for e in indices[t]:
            if e >= 0:
                sample[("x", t, int(e))] = 1
    counts = {("t", t): int((indices[t] >= 0).sum()) for t in range(T)}
    loads = np.bincount(indices[indices >= 0], minlength=E)
    for t in range(T):
        _fill_slack(sample, ("s", "t", t), k - counts[("t", t)], _slack_coefficients(k))
    upper = min(problem.capacity, T)
    for e in range(E):
        _fill_slack(sample, ("s", "e", e), upper - int(loads[e]), _slack_coefficients(upper))
    return sample


def _fill_slack(sample: dict[Any, int], prefix: tuple, amount: int, coeffs: list[int]) -> None:
    if (*prefix, 0) not in sample:
        return
    for b in reversed(range(len(coeffs))):
        if coeffs[b] <= amount:
            sample[(*prefix, b)] = 1
            amount -= coeffs[b]


class QuboRouter(Router):
    """Solve the routing BQM with any qcore solver (``exact``, ``sa``, ``tabu``, ``qaoa``...).

    For small batches: the model has ``T * E`` variables plus slack. Samples that break a
    constraint are repaired (capacity first, then refill) and the count is reported.
    """

    name = "qubo"

    def __init__(
        self,
        solver: str = "exact",
        fallback: Sequence[str] = (),
        time_limit: float | None = None,
        seed: int | None = 0,
        penalty: float | None = None,
        max_variables: int = 2000,
        solver_params: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(solver, str):
            raise InvalidRouting(f"solver: {solver!r}; pass a qcore solver name, e.g. 'exact'.")
        if time_limit is not None:
            _check_positive("time_limit", time_limit)
        if penalty is not None:
            _check_positive("penalty", penalty)
        _check_positive("max_variables", max_variables, integer=True)
        if isinstance(fallback, str):
            fallback = (fallback,)
        if not isinstance(fallback, list | tuple) or not all(isinstance(f, str) for f in fallback):
            raise InvalidRouting(f"fallback: {fallback!r}; pass solver names, e.g. ('sa',).")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            raise InvalidRouting(f"seed: {seed!r}; pass an integer >= 0 or None.")
        if solver_params is not None and not isinstance(solver_params, dict):
            raise InvalidRouting(
                f"solver_params: {solver_params!r}; pass a dict of the solver's parameters."
            )
        self.solver, self.fallback = solver, tuple(fallback)
        self.time_limit, self.seed, self.penalty = time_limit, seed, penalty
        self.max_variables = int(max_variables)
        self.solver_params = dict(solver_params or {})

    def solve(
        self, problem: RoutingProblem, warm: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        bqm = routing_bqm(problem, self.penalty)
        if bqm.num_variables > self.max_variables:
            raise InvalidRouting(
                f"max_variables: the routing BQM has {bqm.num_variables} variables "
                f"(> {self.max_variables}); the qubo router is for small batches. Use "
                "'balanced' for large ones, or raise max_variables."
            )
        params = dict(self.solver_params)
        warm_started = False
        if warm is not None:
            accepted = set(qcore.get_solver(self.solver).parameters)
            sample = encode(problem, warm)
            if "warm_start" in accepted:
                params.setdefault("warm_start", sample)
                warm_started = True
            elif "initial_states" in accepted:
                params.setdefault("initial_states", sample)
                warm_started = True
        try:
            result = qcore.solve(
                bqm,
                solver=self.solver,
                fallback=self.fallback,
                time_limit=self.time_limit,
                seed=self.seed,
                **params,
            )
        except qcore.QcoreError as exc:
            raise RouterFailed(f"qubo: solver {self.solver!r} failed: {exc}") from exc
        idx, violations = decode(problem, result.sample)
        info = {
            "solver": result.solver,
            "energy": result.energy,
            "proven_optimal": result.proven_optimal,
            "solver_wall_s": result.wall_s,
            "failed_first": [f"{a.solver}: {a.error_type}: {a.message}" for a in result.attempts],
            "num_variables": bqm.num_variables,
            "violations": violations,
            "warm_started": warm_started,
        }
        return idx, info

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        idx, info = self.solve(problem)
        return build_plan(problem, idx, self.name, info)


class HybridRouter(Router):
    """A classical router's plan warm-starts the QUBO path (QAOA or an annealer); the
    quantum answer is kept only if it is feasible and strictly better, else the classical
    one is returned. ``info["winner"]`` says which, ``info["quantum_error"]`` why it failed.
    """

    name = "hybrid"

    def __init__(
        self,
        classical: str = "sinkhorn",
        solver: str = "sa",
        classical_options: dict[str, Any] | None = None,
        **qubo_options: Any,
    ) -> None:
        if classical in ("qubo", "hybrid"):
            raise InvalidRouting(f"classical: {classical!r}; pick a classical router name.")
        self.classical = get_router(classical, **(classical_options or {}))
        self.qubo = QuboRouter(solver=solver, **qubo_options)

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        start = time.perf_counter()
        base = self.classical.route(problem)
        classical_s = time.perf_counter() - start
        c_idx = (
            base.indices[:, : problem.k]
            if base.indices.shape[1] >= problem.k
            else np.pad(
                base.indices, ((0, 0), (0, problem.k - base.indices.shape[1])), constant_values=-1
            )
        )
        c_key = _score(problem, c_idx)
        info: dict[str, Any] = {
            "classical": self.classical.name,
            "classical_objective": c_key[1],
            "classical_s": classical_s,
            "quantum_solver": self.qubo.solver,
        }
        start = time.perf_counter()
        try:
            q_idx, q_info = self.qubo.solve(problem, warm=c_idx)
        except (RouterFailed, InvalidRouting) as exc:
            info.update(winner="classical", quantum_error=str(exc))
            info["quantum_s"] = time.perf_counter() - start
            return build_plan(problem, c_idx, self.name, info)
        info["quantum_s"] = time.perf_counter() - start
        q_key = _score(problem, q_idx)
        info.update({f"quantum_{key}": v for key, v in q_info.items()})
        info["quantum_objective"] = q_key[1]
        better = q_key > c_key and q_key[1] > c_key[1] + 1e-12 * max(1.0, abs(c_key[1]))
        better = better or (q_key[0] > c_key[0])  # fewer drops wins outright
        info["winner"] = "quantum" if better else "classical"
        return build_plan(problem, q_idx if better else c_idx, self.name, info)


def _score(problem: RoutingProblem, idx: np.ndarray) -> tuple[int, float]:
    """Compare plans: more placed assignments first, then higher value."""
    return int((idx >= 0).sum()), plan_objective(problem.value, idx)
