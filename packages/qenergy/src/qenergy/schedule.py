"""``qenergy.schedule``: one call, every method, an exact evaluation and a feasibility report."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from qenergy.cluster import Cluster
from qenergy.cpsat import infeasibility_core, solve_cpsat
from qenergy.errors import InfeasibleSchedule, InvalidParameter, UnknownMethod
from qenergy.heuristics import PRIORITY_RULES, list_schedule
from qenergy.instance import DEFAULT_SLOWDOWN_EXPONENT, Instance, build_instance
from qenergy.result import Assignment, ScheduleResult, evaluate

__all__ = ["METHODS", "OBJECTIVES", "default_time_limit", "schedule", "schedule_instance"]

METHODS = ("auto", "list", *PRIORITY_RULES, "cpsat", "qubo", "hybrid", "chooser")
OBJECTIVES = ("peak", "energy")


def default_time_limit(n_jobs: int) -> float:
    """Seconds for the exact part of ``auto`` (and ``cpsat``): 5 s + 0.05 s per job, at most 30."""
    return min(30.0, 5.0 + 0.05 * n_jobs)


def _check(method: object, objective: object, time_limit: object, seed: object) -> None:
    if method not in METHODS:
        raise UnknownMethod(f"method: unknown {method!r}; use one of {', '.join(METHODS)}.")
    if objective not in OBJECTIVES:
        raise InvalidParameter(f"objective: {objective!r}; use 'peak' or 'energy'.")
    if time_limit is not None and (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, int | float)
        or not math.isfinite(time_limit)
        or time_limit <= 0
    ):
        raise InvalidParameter(
            f"time_limit: {time_limit!r}; give seconds > 0 (or None for the default)."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidParameter(f"seed: {seed!r}; give a whole number >= 0.")


def _no_schedule(inst: Instance, method: str) -> InfeasibleSchedule:
    core = infeasibility_core(inst, time_limit=10.0)
    if core:
        shown = ", ".join(core[:8]) + (f" (and {len(core) - 8} more)" if len(core) > 8 else "")
        return InfeasibleSchedule(
            f"jobs: no schedule meets every deadline under {inst.capacity} GPUs and "
            f"{inst.cluster.power_budget_w:g} W; these jobs conflict: {shown}. Move their "
            "deadlines, raise the budget, or allow caps.",
            core,
        )
    return InfeasibleSchedule(
        f"method: {method!r} found no feasible schedule (and CP-SAT could not prove in 10 s "
        "that none exists); try method='cpsat' with a longer time_limit."
    )


def schedule_instance(
    inst: Instance,
    method: str = "auto",
    objective: str = "peak",
    seed: int = 0,
    time_limit: float | None = None,
    qubo_solver: str = "sa",
    workers: int = 2,
    hybrid_solver: str = "tabu",
    qubo_slots: int = 16,
) -> ScheduleResult:
    """Schedule a built :class:`Instance` (see :func:`schedule`)."""
    _check(method, objective, time_limit, seed)
    if (
        isinstance(qubo_slots, bool)
        or not isinstance(qubo_slots, int)
        or not 1 <= qubo_slots <= 1000
    ):
        raise InvalidParameter(
            f"qubo_slots: {qubo_slots!r}; give a whole number of grid steps in 1..1000."
        )
    t0 = time.perf_counter()
    info: dict = {}
    bound = None
    proven = False
    assign: Assignment | None = None
    if method == "chooser":
        from qenergy.chooser import MethodChooser

        chooser = MethodChooser.default()
        picked = chooser.choose(inst, objective, seed=seed)
        result = schedule_instance(
            inst,
            picked,
            objective,
            seed,
            time_limit,
            qubo_solver,
            workers,
            hybrid_solver,
            qubo_slots,
        )
        chooser.record(inst, objective, result)
        result.info["chooser_picked"] = picked
        result.method = f"chooser:{picked}"
        return result
    if method in PRIORITY_RULES or method == "list":
        assign, rule = list_schedule(inst, objective, None if method == "list" else [method])
        info["rule"] = rule
    elif method == "cpsat":
        out = solve_cpsat(
            inst, objective, time_limit or default_time_limit(inst.n), seed, workers=workers
        )
        if out.status == "INFEASIBLE":
            raise _no_schedule(inst, method)
        assign, bound, proven = out.assignment, out.bound, out.status == "OPTIMAL"
        info["cpsat_status"] = out.status
    elif method == "qubo":
        from qenergy.qubo import qubo_schedule

        assign, info = qubo_schedule(
            inst, objective, qubo_solver, time_limit or 5.0, seed, qubo_slots
        )
    elif method == "hybrid":
        from qenergy.qubo import hybrid_schedule

        start, rule = list_schedule(inst, objective)
        if start is None:
            raise _no_schedule(inst, method)
        assign, info = hybrid_schedule(
            inst, objective, start, qubo_solver, time_limit or 10.0, seed
        )
        info["rule"] = rule
    else:  # auto: the list heuristics, then CP-SAT hinted by the best of them; keep the best
        start, rule = list_schedule(inst, objective)
        info["rule"] = rule
        limit = time_limit or default_time_limit(inst.n)
        out = solve_cpsat(
            inst,
            objective,
            max(0.1, limit - (time.perf_counter() - t0)),
            seed,
            hint=start,
            workers=workers,
        )
        info["cpsat_status"] = out.status
        if out.status == "INFEASIBLE":
            raise _no_schedule(inst, method)
        bound, proven = out.bound, out.status == "OPTIMAL"
        candidates = [a for a in (start, out.assignment) if a is not None]
        if candidates:
            scored = [evaluate(inst, a, "auto", objective) for a in candidates]
            best = min(
                range(len(scored)), key=lambda i: (not scored[i].feasible, scored[i].model_value)
            )
            assign = candidates[best]
            info["picked"] = ("list", "cpsat")[best] if start is not None else "cpsat"
    if assign is None:
        raise _no_schedule(inst, method)
    result = evaluate(
        inst, assign, method, objective, bound=bound, proven_optimal=proven, info=info
    )
    if result.feasible and bound is not None and result.model_value <= bound * (1 + 1e-9) + 1e-6:
        result.proven_optimal = True
    result.solve_s = time.perf_counter() - t0
    return result


def schedule(
    jobs: object,
    cluster: Cluster,
    method: str = "auto",
    objective: str = "peak",
    seed: int = 0,
    time_limit: float | None = None,
    caps: Sequence[float] | None = None,
    cap_slowdown_exponent: float = DEFAULT_SLOWDOWN_EXPONENT,
    qubo_solver: str = "sa",
    workers: int = 2,
    qubo_slots: int = 16,
) -> ScheduleResult:
    """Start times (and, with ``caps``, a per-GPU power cap) for every job.

    ``jobs``: DataFrame, .csv/.json path or list of dicts with ``job_id, gpus, duration_s,
    submit_s, deadline_s, power_w``. ``method``: ``auto`` (list heuristics, then CP-SAT hinted by
    the best, keep the best), ``list`` (best priority rule), a rule name (``edf``, ...),
    ``cpsat``, ``qubo``, ``hybrid``, ``chooser``. ``objective``: ``peak`` (least peak power
    under the budget) or ``energy`` (least energy, idle floor over the makespan included).
    ``caps``: fractions of each job's uncapped per-GPU draw it may be capped to, e.g.
    ``(0.85, 0.7)``. ``time_limit``: seconds for the solver part (CP-SAT, QUBO).
    ``qubo_solver``: any qcore solver name (``sa``, ``tabu``, ``qaoa`` on tiny cases, ...);
    ``qubo_slots``: grid steps of the time-indexed QUBO (2-3 keep a 2-job case within QAOA's
    20 simulated qubits).
    """
    _check(method, objective, time_limit, seed)
    inst = build_instance(jobs, cluster, caps, cap_slowdown_exponent)
    return schedule_instance(
        inst, method, objective, seed, time_limit, qubo_solver, workers, qubo_slots=qubo_slots
    )
