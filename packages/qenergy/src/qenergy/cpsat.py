"""The exact model: OR-Tools CP-SAT with cumulative constraints for GPUs and power.

Integer time (seconds) and power (watts above idle). Each job has one start variable and one
optional interval per option (uncapped, or a per-GPU cap); exactly one option is present.
``AddCumulative`` over the present intervals keeps busy GPUs within the cluster and power
within the budget (objective ``peak``: within a capacity variable that is minimised). The
``energy`` objective minimises the jobs' energy above idle plus the idle floor over the
makespan. A heuristic schedule, when given, is passed as a solution hint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from qenergy.instance import Instance
from qenergy.result import Assignment

__all__ = ["CpSatOutcome", "infeasibility_core", "solve_cpsat"]


@dataclass(frozen=True)
class CpSatOutcome:
    assignment: Assignment | None
    status: str  # OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN
    objective: float | None  # in the objective's units: peak W (total) or energy J
    bound: float | None
    wall_s: float


def _build(inst: Instance, objective: str, with_guards: bool = False):
    model = cp_model.CpModel()
    lo_t = int(inst.release.min())
    hi_t = int(inst.deadline.max())
    starts, presence, intervals_all, gpus_all, power_all, ends_all = [], [], [], [], [], []
    guards = []
    for j in range(inst.n):
        opts = inst.options[j]
        dmin = min(o.duration for o in opts)
        # with guards a deadline may be dropped, so the start domain must not encode it
        latest = (
            hi_t + sum(max(o.duration for o in op) for op in inst.options)
            if with_guards
            else int(inst.deadline[j]) - dmin
        )
        s = model.NewIntVar(int(inst.release[j]), max(int(inst.release[j]), latest), f"s{j}")
        guard = model.NewBoolVar(f"ok{j}") if with_guards else None
        guards.append(guard)
        lits = []
        for k, o in enumerate(opts):
            b = model.NewConstant(1) if len(opts) == 1 else model.NewBoolVar(f"b{j}_{k}")
            iv = model.NewOptionalFixedSizeIntervalVar(s, o.duration, b, f"i{j}_{k}")
            end = s + o.duration
            if guard is None:
                model.Add(end <= int(inst.deadline[j])).OnlyEnforceIf(b)
            else:
                model.Add(end <= int(inst.deadline[j])).OnlyEnforceIf([b, guard])
            intervals_all.append(iv)
            gpus_all.append(int(inst.gpus[j]))
            power_all.append(int(o.delta_w))
            ends_all.append((end, b))
            lits.append(b)
        if len(opts) > 1:
            model.AddExactlyOne(lits)
        starts.append(s)
        presence.append(lits)
    model.AddCumulative(intervals_all, gpus_all, inst.capacity)
    peak_var = None
    if objective == "peak":
        from qenergy.bounds import peak_lower_bound

        floor = min(peak_lower_bound(inst), inst.budget_delta)
        peak_var = model.NewIntVar(floor, inst.budget_delta, "peak")
        model.AddCumulative(intervals_all, power_all, peak_var)
        model.Minimize(peak_var)
    elif objective == "energy":
        model.AddCumulative(intervals_all, power_all, inst.budget_delta)
        makespan = model.NewIntVar(lo_t, hi_t, "makespan")
        for end, b in ends_all:
            model.Add(makespan >= end).OnlyEnforceIf(b)
        idle = round(inst.cluster.idle_power_w)
        terms = []
        for j in range(inst.n):
            for k, b in enumerate(presence[j]):
                o = inst.options[j][k]
                terms.append(int(o.delta_w) * int(o.duration) * b)
        model.Minimize(sum(terms) + idle * makespan)
    else:  # feasibility only
        model.AddCumulative(intervals_all, power_all, inst.budget_delta)
    return model, starts, presence, peak_var, guards


def solve_cpsat(
    inst: Instance,
    objective: str,
    time_limit: float = 10.0,
    seed: int = 0,
    hint: Assignment | None = None,
    workers: int = 2,
) -> CpSatOutcome:
    """Solve to optimality or until ``time_limit`` seconds; the best feasible assignment found."""
    model, starts, presence, peak_var, _ = _build(inst, objective)
    if hint is not None:
        for j in range(inst.n):
            model.AddHint(starts[j], int(hint.start[j]))
            if len(presence[j]) > 1:
                for k, b in enumerate(presence[j]):
                    model.AddHint(b, int(k == int(hint.option[j])))
        if peak_var is not None:
            from qenergy.heuristics import Profile

            prof = Profile(int(inst.release.min()))
            for j in range(inst.n):
                o = inst.options[j][int(hint.option[j])]
                prof.add(
                    int(hint.start[j]),
                    int(hint.start[j]) + o.duration,
                    int(inst.gpus[j]),
                    o.delta_w,
                )
            model.AddHint(peak_var, int(prof.p.max()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed) % (2**31)
    status = solver.Solve(model)
    name = solver.StatusName(status)
    # the same units as result.model_value
    if objective == "peak":
        offset = inst.cluster.idle_power_w
    else:
        offset = -float(round(inst.cluster.idle_power_w) * int(inst.release.min()))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatOutcome(None, name, None, None, solver.WallTime())
    start = np.array([solver.Value(s) for s in starts], dtype=np.int64)
    option = np.array(
        [
            next(k for k, b in enumerate(p) if solver.BooleanValue(b)) if len(p) > 1 else 0
            for p in presence
        ],
        dtype=np.int64,
    )
    return CpSatOutcome(
        Assignment(start, option),
        name,
        float(solver.ObjectiveValue()) + offset,
        float(solver.BestObjectiveBound()) + offset,
        solver.WallTime(),
    )


def infeasibility_core(inst: Instance, time_limit: float = 10.0) -> list[str] | None:
    """Job ids whose deadlines together cannot all be met (CP-SAT's sufficient assumptions for
    infeasibility), or None if it cannot tell within ``time_limit``."""
    model, _, _, _, guards = _build(inst, "feasibility", with_guards=True)
    model.AddAssumptions(guards)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = 1  # assumptions need the single-worker core search
    status = solver.Solve(model)
    if status != cp_model.INFEASIBLE:
        return None
    core = set(solver.SufficientAssumptionsForInfeasibility())
    return [inst.job_ids[j] for j, g in enumerate(guards) if g.Index() in core]
