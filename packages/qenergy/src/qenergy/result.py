"""A schedule: start times and options per job, evaluated exactly, with its feasibility report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qenergy.checker import FeasibilityReport, check_schedule, power_profile
from qenergy.instance import Instance

__all__ = ["Assignment", "ScheduleResult", "evaluate", "objective_value"]


@dataclass(frozen=True)
class Assignment:
    """Integer start second and option index of every job (the solvers' common answer)."""

    start: np.ndarray
    option: np.ndarray


def _gpu_ids(inst: Instance, start: np.ndarray, end: np.ndarray) -> list[str]:
    """Concrete GPU ids: at each start take the lowest free ids (always enough when the
    schedule respects capacity: busy GPUs never exceed the count)."""
    per_node = inst.cluster.gpus_per_node
    free = list(range(inst.capacity))
    held: dict[int, list[int]] = {}
    events = sorted(
        [(float(end[j]), 0, j) for j in range(inst.n)]
        + [(float(start[j]), 1, j) for j in range(inst.n)]
    )
    out = [""] * inst.n
    for _, kind, j in events:
        if kind == 0:
            free.extend(held.pop(j, []))
            free.sort()
        else:
            take = int(inst.gpus[j])
            if take > len(free):
                out[j] = "unassigned"
                continue
            held[j], free = free[:take], free[take:]
            out[j] = " ".join(f"{g // per_node}/{g % per_node}" for g in held[j])
    return out


def objective_value(peak_w: float, energy_j: float, objective: str) -> float:
    return peak_w if objective == "peak" else energy_j


@dataclass
class ScheduleResult:
    """What ``qenergy.schedule`` returns. ``to_frame()`` has one row per job."""

    method: str
    objective: str
    frame: pd.DataFrame
    peak_w: float
    energy_j: float
    makespan_s: float
    report: FeasibilityReport
    solve_s: float = 0.0
    proven_optimal: bool = False
    bound: float | None = None  # CP-SAT's lower bound on model_value
    model_value: float = 0.0  # the objective in the integer model every solver optimises
    info: dict = field(default_factory=dict)
    jobs: pd.DataFrame | None = None
    cluster: object = None

    @property
    def feasible(self) -> bool:
        return self.report.feasible

    @property
    def objective_value(self) -> float:
        return objective_value(self.peak_w, self.energy_j, self.objective)

    @property
    def gap(self) -> float | None:
        """Relative gap to the bound (0 when proven optimal), None without a bound."""
        if self.bound is None:
            return None
        return max(0.0, (self.model_value - self.bound) / max(abs(self.model_value), 1e-9))

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def power_profile(self) -> pd.DataFrame:
        return power_profile(self.frame, self.cluster)  # type: ignore[arg-type]

    def summary(self) -> dict[str, object]:
        return {
            "method": self.method,
            "objective": self.objective,
            "feasible": self.feasible,
            "peak_w": round(self.peak_w, 3),
            "energy_kwh": round(self.energy_j / 3.6e6, 6),
            "makespan_s": round(self.makespan_s, 3),
            "solve_s": round(self.solve_s, 3),
            "proven_optimal": self.proven_optimal,
            "model_value": round(self.model_value, 3),
            "bound": None if self.bound is None else round(self.bound, 3),
            "violations": list(self.report.violations),
            **{k: v for k, v in self.info.items() if isinstance(v, str | int | float | bool)},
        }

    def to_csv(self, path: str | Path) -> None:
        self.frame.to_csv(path, index=False)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(
            {"summary": self.summary(), "jobs": json.loads(self.frame.to_json(orient="records"))},
            indent=1,
        )
        if path is not None:
            Path(path).write_text(text)
        return text


def model_value(inst: Instance, assign: Assignment, objective: str) -> float:
    """The objective in the integer model (whole seconds, watts rounded up) that CP-SAT solves:
    peak = idle floor + the most power above idle at any second; energy = the jobs' energy
    above idle + the (rounded) idle floor from the earliest release to the last end."""
    opts = [inst.options[j][int(assign.option[j])] for j in range(inst.n)]
    if objective == "peak":
        times = np.r_[assign.start, assign.start + [o.duration for o in opts]]
        deltas = np.r_[[o.delta_w for o in opts], [-o.delta_w for o in opts]]
        order = np.lexsort((deltas, times))  # ends (negative) first at equal times
        return inst.cluster.idle_power_w + float(np.max(np.cumsum(deltas[order]), initial=0))
    end = max(int(assign.start[j]) + opts[j].duration for j in range(inst.n))
    idle = round(inst.cluster.idle_power_w)
    return float(sum(o.delta_w * o.duration for o in opts) + idle * (end - int(inst.release.min())))


def evaluate(
    inst: Instance, assign: Assignment, method: str, objective: str, **kw: object
) -> ScheduleResult:
    """The exact schedule (float end times, exact powers) of an integer assignment, checked."""
    opts = [inst.options[j][int(assign.option[j])] for j in range(inst.n)]
    start = assign.start.astype(float)
    end = start + np.array([o.duration_s for o in opts])
    frame = pd.DataFrame(
        {
            "job_id": inst.job_ids,
            "start_s": start,
            "end_s": end,
            "gpus": inst.gpus,
            "power_w": [o.power_w for o in opts],
            "cap_w": [np.nan if o.cap_w is None else o.cap_w for o in opts],
        }
    )
    frame["gpu_ids"] = _gpu_ids(inst, start, end)
    report = check_schedule(inst.jobs, inst.cluster, frame)
    origin = float(inst.jobs["submit_s"].min())
    makespan = float(end.max()) - origin
    dyn = sum(
        (o.power_w - inst.idle_w_per_gpu * g) * o.duration_s
        for o, g in zip(opts, inst.gpus, strict=True)
    )
    energy = inst.cluster.idle_power_w * makespan + dyn
    peak = power_profile(frame, inst.cluster)["power_w"].max()
    return ScheduleResult(
        method=method,
        objective=objective,
        frame=frame,
        peak_w=float(peak),
        energy_j=float(energy),
        makespan_s=makespan,
        report=report,
        jobs=inst.jobs,
        cluster=inst.cluster,
        model_value=model_value(inst, assign, objective),
        **kw,  # type: ignore[arg-type]
    )
