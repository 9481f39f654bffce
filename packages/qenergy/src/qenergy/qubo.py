"""Time-indexed QUBO through qcore, and the hybrid that warm-starts it from list scheduling.

Variables ``x[j, k, t]``: job ``j`` runs option ``k`` starting at grid time ``t`` (a coarse grid
of ``slots`` steps over the jobs' windows, plus each job's own release and latest start).
- one-hot per job (``qcore.constraints.one_hot``);
- per grid slot, GPUs and power within capacity: ``sum(w x) + slack = cap`` penalties with
  binary slack (dimod's linear inequality encoding); a start that touches a slot counts fully
  in it and power is rounded up to units of ``budget / 64``, so a penalty-free sample is
  feasible in the exact instance;
- objective ``peak``: the sum over slots of the squared average power (the usual QUBO proxy for
  a flat profile, whose maximum is the peak); ``energy``: each option's energy above idle plus
  the idle floor's share of its end time (a linear proxy for the makespan).
A sample is decoded to start hints and options, then repaired by the serial scheduler
(heuristics.serial_schedule, starting each job no earlier than its hint), so every returned
schedule is feasible; the QUBO itself may be violated, and the result says whether it was.
``hybrid`` reoptimises the jobs around the peak (or the latest ends) of the incumbent with the
others fixed, warm-starting from the incumbent, and keeps a candidate only if it is better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dimod
import numpy as np
import qcore
from qcore.constraints import auto_penalty, one_hot

from qenergy.heuristics import Profile, serial_schedule
from qenergy.instance import Instance
from qenergy.result import Assignment, evaluate, objective_value

__all__ = ["QuboModel", "build_qubo", "hybrid_schedule", "qubo_schedule"]

POWER_UNITS = 64  # the power budget in this many integer units


@dataclass
class QuboModel:
    bqm: dimod.BinaryQuadraticModel
    index: dict[tuple[int, int, int], str]  # (job, option, start) -> variable
    slack: dict[str, list[tuple[str, int]]]  # constraint -> slack terms
    rows: dict[str, list[tuple[str, int]]]  # constraint -> (variable, weight)
    ub: dict[str, int]
    free: list[int]


def _grid(inst: Instance, free: list[int], slots: int) -> tuple[int, int]:
    lo = int(min(inst.release[j] for j in free))
    hi = int(max(inst.deadline[j] for j in free))
    return lo, max(1, math.ceil((hi - lo) / slots))


def build_qubo(
    inst: Instance,
    objective: str,
    free: list[int],
    fixed: Assignment | None = None,
    slots: int = 16,
) -> QuboModel:
    """The QUBO over the ``free`` jobs; the others (if any) keep their ``fixed`` placement."""
    lo, step = _grid(inst, free, slots)
    background = Profile(int(inst.release.min()))
    free_set = set(free)
    if fixed is not None:
        for j in range(inst.n):
            if j not in free_set:
                o = inst.options[j][int(fixed.option[j])]
                background.add(
                    int(fixed.start[j]),
                    int(fixed.start[j]) + o.duration,
                    int(inst.gpus[j]),
                    o.delta_w,
                )
    unit = max(1, math.ceil(inst.budget_delta / POWER_UNITS))
    index: dict[tuple[int, int, int], str] = {}
    occupancy: dict[
        int, list[tuple[str, int, int, float]]
    ] = {}  # slot -> (var, gpus, power units, avg W)
    linear: dict[str, float] = {}
    idle = inst.cluster.idle_power_w
    for j in free:
        for k, o in enumerate(inst.options[j]):
            first, last = int(inst.release[j]), int(inst.deadline[j]) - o.duration
            if last < first:
                continue
            grid = np.arange(lo + math.ceil((first - lo) / step) * step, last + 1, step)
            starts = {first, last, *map(int, grid)}
            if (
                fixed is not None
                and int(fixed.option[j]) == k
                and first <= int(fixed.start[j]) <= last
            ):
                starts.add(int(fixed.start[j]))  # the incumbent is a state of the model
            for t in sorted(starts):
                var = f"x_{j}_{k}_{t}"
                index[(j, k, t)] = var
                linear[var] = (
                    (inst.dyn_energy(j, k) + idle * (t + o.duration - lo) / max(1, len(free)))
                    if objective == "energy"
                    else 0.0
                )
                a, b = (t - lo) // step, (t + o.duration - 1 - lo) // step
                for slot in range(a, b + 1):
                    s0, s1 = lo + slot * step, lo + (slot + 1) * step
                    overlap = max(0, min(s1, t + o.duration) - max(s0, t)) / step
                    occupancy.setdefault(slot, []).append(
                        (var, int(inst.gpus[j]), math.ceil(o.delta_w / unit), o.delta_w * overlap)
                    )
    bqm = dimod.BinaryQuadraticModel(linear, {}, 0.0, dimod.BINARY)
    if objective == "peak":
        # sum over slots of (background + sum avg_w x)^2, scaled to keep coefficients near 1
        scale = 1.0 / max(1.0, float(inst.budget_delta)) ** 2
        for slot, items in occupancy.items():
            s0 = lo + slot * step
            _, bg = background.window_max(np.array([s0]), step)
            terms = [(v, w) for v, _, _, w in items]
            bqm.add_linear_equality_constraint(terms, scale, float(bg[0]))
    else:
        scale = 1.0 / max(1.0, max(abs(b) for b in linear.values()))
        bqm.scale(scale)
    penalty = max(1.0, auto_penalty(bqm)) if bqm.num_variables else 1.0
    for j in free:
        vars_j = [v for (jj, _, _), v in index.items() if jj == j]
        bqm.update(one_hot(vars_j, penalty))
    slack: dict[str, list[tuple[str, int]]] = {}
    rows: dict[str, list[tuple[str, int]]] = {}
    ubs: dict[str, int] = {}
    for slot, items in occupancy.items():
        s0 = lo + slot * step
        bg_g, bg_p = background.window_max(np.array([s0]), step)
        for name, weights, cap in (
            (f"gpu{slot}", [(v, g) for v, g, _, _ in items], inst.capacity - int(bg_g[0])),
            (
                f"pow{slot}",
                [(v, p) for v, _, p, _ in items],
                (inst.budget_delta - int(bg_p[0])) // unit,
            ),
        ):
            if sum(w for _, w in weights) <= cap:
                continue
            cap = max(cap, 0)
            terms = bqm.add_linear_inequality_constraint(weights, penalty, name, ub=cap)
            slack[name], rows[name], ubs[name] = list(terms), weights, cap
    return QuboModel(bqm, index, slack, rows, ubs, free)


def _state(model: QuboModel, assign: Assignment) -> dict[str, int]:
    """A full QUBO state for an assignment: its x variables, slacks filled greedily."""
    state = dict.fromkeys(model.bqm.variables, 0)
    for (j, k, t), var in model.index.items():
        if int(assign.option[j]) == k and int(assign.start[j]) == t:
            state[var] = 1
    for name, terms in model.slack.items():
        rest = model.ub[name] - sum(w * state[v] for v, w in model.rows[name])
        for var, coeff in sorted(terms, key=lambda vc: -vc[1]):
            if 0 < coeff <= rest:
                state[var] = 1
                rest -= coeff
    return state


def _decode(
    model: QuboModel, inst: Instance, sample: dict, base: Assignment | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Start hints and options for every job, and whether the sample was one-hot everywhere."""
    hint = base.start.copy() if base is not None else inst.release.copy()
    option = base.option.copy() if base is not None else np.zeros(inst.n, dtype=np.int64)
    ok = True
    chosen: dict[int, list[tuple[int, int]]] = {}
    for (j, k, t), var in model.index.items():
        if sample.get(var, 0) == 1:
            chosen.setdefault(j, []).append((t, k))
    for j in model.free:
        picks = sorted(chosen.get(j, []))
        if len(picks) != 1:
            ok = False
        if picks:
            hint[j], option[j] = picks[0]
        else:
            hint[j] = inst.release[j]
    return hint, option, ok


def _repair(
    inst: Instance, hint: np.ndarray, option: np.ndarray, objective: str, fixed_order: list[int]
) -> Assignment | None:
    order = fixed_order + sorted(
        (j for j in range(inst.n) if j not in set(fixed_order)), key=lambda j: (hint[j], j)
    )
    for placement in ("earliest", "flattest"):
        assign = serial_schedule(inst, order, placement, objective, preferred=option, release=hint)
        if assign is not None:
            return assign
    return None


def qubo_schedule(
    inst: Instance,
    objective: str,
    solver: str = "sa",
    time_limit: float | None = 5.0,
    seed: int = 0,
    slots: int = 16,
    warm: Assignment | None = None,
    max_jobs: int = 60,
) -> tuple[Assignment | None, dict]:
    """Solve the whole instance as one QUBO (up to ``max_jobs`` jobs) and repair the sample."""
    from qenergy.errors import InvalidParameter

    if inst.n > max_jobs:
        raise InvalidParameter(
            f"method: 'qubo' takes up to {max_jobs} jobs (this instance has {inst.n}); use "
            "'hybrid', which reoptimises windows of the schedule by QUBO, or 'auto'."
        )
    model = build_qubo(inst, objective, list(range(inst.n)), slots=slots)
    params: dict = {}
    if warm is not None and solver in ("sa", "tabu"):
        params["initial_states"] = _as_states(model, warm)
    result = qcore.solve(model.bqm, solver=solver, time_limit=time_limit, seed=seed, **params)
    hint, option, one_hot_ok = _decode(model, inst, result.sample, warm)
    assign = _repair(inst, hint, option, objective, [])
    info = {
        "qubo_variables": model.bqm.num_variables,
        "qubo_solver": result.solver,
        "qubo_energy": result.energy,
        "qubo_one_hot_ok": one_hot_ok,
    }
    return assign, info


def _as_states(model: QuboModel, assign: Assignment) -> tuple[np.ndarray, list]:
    state = _state(model, assign)
    labels = list(model.bqm.variables)
    return np.array([[state[v] for v in labels]], dtype=np.int8), labels


def _window(
    inst: Instance, assign: Assignment, objective: str, size: int, rng: np.random.Generator
) -> list[int]:
    """Jobs that could move away from the incumbent's peak instant (those whose window holds
    it, a random subset when there are more), or, for energy, from its last end."""
    ends = assign.start + np.array(
        [inst.options[j][int(assign.option[j])].duration for j in range(inst.n)]
    )
    if objective == "peak":
        prof = Profile(int(inst.release.min()))
        for j in range(inst.n):
            o = inst.options[j][int(assign.option[j])]
            prof.add(int(assign.start[j]), int(ends[j]), int(inst.gpus[j]), o.delta_w)
        t = int(prof.t[int(np.argmax(prof.p))])
    else:
        t = int(ends.max()) - 1
    movable = np.flatnonzero((inst.release <= t) & (inst.deadline > t))
    if len(movable) > size:
        movable = rng.choice(movable, size=size, replace=False)
    return sorted(int(j) for j in movable)


def hybrid_schedule(
    inst: Instance,
    objective: str,
    start: Assignment,
    solver: str = "tabu",
    time_limit: float = 10.0,
    seed: int = 0,
    window: int = 12,
    rounds: int | None = None,
    slots: int = 12,
    solver_params: dict | None = None,
) -> tuple[Assignment, dict]:
    """Large-neighbourhood search: QUBO windows warm-started from the incumbent; keep the best."""
    import time

    rng = np.random.default_rng(seed)
    best = start
    best_value = objective_value(*_metrics(inst, best), objective)
    first_value = best_value
    t0 = time.perf_counter()
    rounds_done = improved = 0
    per_round = max(0.2, time_limit / (rounds or 6))
    while (rounds is None and time.perf_counter() - t0 < time_limit) or (
        rounds is not None and rounds_done < rounds
    ):
        free = _window(inst, best, objective, min(window, inst.n), rng)
        model = build_qubo(inst, objective, free, fixed=best, slots=slots)
        params = {"initial_states": _as_states(model, best)} if solver in ("sa", "tabu") else {}
        params.update(solver_params or {})
        result = qcore.solve(
            model.bqm, solver=solver, time_limit=per_round, seed=int(rng.integers(2**31)), **params
        )
        hint, option, _ = _decode(model, inst, result.sample, best)
        fixed = [j for j in np.argsort(best.start, kind="stable") if j not in set(free)]
        cand = _repair(inst, hint, option, objective, [int(j) for j in fixed])
        rounds_done += 1
        if cand is not None:
            value = objective_value(*_metrics(inst, cand), objective)
            if value < best_value - 1e-6:
                best, best_value, improved = cand, value, improved + 1
    return best, {
        "hybrid_rounds": rounds_done,
        "hybrid_improved": improved,
        "hybrid_start_value": first_value,
        "hybrid_solver": solver,
    }


def _metrics(inst: Instance, assign: Assignment) -> tuple[float, float]:
    res = evaluate(inst, assign, "probe", "peak")
    return res.peak_w, res.energy_j
