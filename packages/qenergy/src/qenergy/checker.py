"""An independent feasibility check of a finished schedule, in the job table's own float values.

It shares no code with the solvers: it reads the validated job table, the cluster and the
schedule frame (``job_id, start_s, end_s, power_w, cap_w``) and sweeps the start and end
events. The tests run it on every schedule any method returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qenergy.cluster import Cluster

__all__ = ["FeasibilityReport", "check_schedule", "power_profile"]

TOL_S = 1e-6
TOL_W = 1e-6


@dataclass(frozen=True)
class FeasibilityReport:
    feasible: bool
    violations: list[str] = field(default_factory=list)
    peak_w: float = 0.0
    max_gpus: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "feasible": self.feasible,
            "violations": list(self.violations),
            "peak_w": self.peak_w,
            "max_gpus": self.max_gpus,
        }


def power_profile(
    schedule: pd.DataFrame, cluster: Cluster, gpus: pd.Series | None = None
) -> pd.DataFrame:
    """Cluster power and busy GPUs as a step function, one row per change:
    ``time_s, power_w, gpus``.

    ``schedule`` needs ``start_s, end_s, power_w`` and ``gpus`` (or pass ``gpus``).
    """
    g = (schedule["gpus"] if gpus is None else gpus).to_numpy(float)
    dyn = schedule["power_w"].to_numpy(float) - cluster.idle_w_per_gpu * g
    times = np.r_[schedule["start_s"].to_numpy(float), schedule["end_s"].to_numpy(float)]
    dp = np.r_[dyn, -dyn]
    dg = np.r_[g, -g]
    # at equal times, ends before starts: a job may start the instant another ends
    order = np.lexsort((np.r_[np.ones(len(dyn)), np.zeros(len(dyn))], times))
    t, dp, dg = times[order], dp[order], dg[order]
    uniq, first = np.unique(t, return_index=True)
    power = cluster.idle_power_w + np.cumsum(dp)
    busy = np.cumsum(dg)
    last = np.r_[first[1:], len(t)] - 1
    return pd.DataFrame({"time_s": uniq, "power_w": power[last], "gpus": busy[last]})


def check_schedule(
    jobs: pd.DataFrame, cluster: Cluster, schedule: pd.DataFrame
) -> FeasibilityReport:
    """Every job once, after its submission, done by its deadline, run at least its duration
    (longer when capped, never shorter), drawing at most its power; GPUs and power budget
    respected at every instant."""
    problems: list[str] = []
    need = {"job_id", "start_s", "end_s", "power_w"}
    if not need <= set(schedule.columns):
        return FeasibilityReport(
            False, [f"schedule lacks columns {sorted(need - set(schedule.columns))}"]
        )
    table = jobs.set_index("job_id")
    ids = list(schedule["job_id"])
    if len(set(ids)) != len(ids):
        problems.append("a job appears twice in the schedule")
    missing = sorted(set(table.index) - set(ids))
    if missing:
        problems.append(f"jobs not scheduled: {', '.join(missing[:5])}")
    unknown = sorted(set(ids) - set(table.index))
    if unknown:
        problems.append(f"unknown jobs in the schedule: {', '.join(unknown[:5])}")
    if problems:
        return FeasibilityReport(False, problems)
    rows = schedule.set_index("job_id")
    for job in ids:
        row, spec = rows.loc[job], table.loc[job]
        start, end, power = float(row["start_s"]), float(row["end_s"]), float(row["power_w"])
        cap = row["cap_w"] if "cap_w" in rows.columns else None
        capped = cap is not None and not (isinstance(cap, float) and math.isnan(cap))
        if start < spec["submit_s"] - TOL_S:
            problems.append(
                f"{job}: starts at {start:g} s before its submission at {spec['submit_s']:g} s"
            )
        if end > spec["deadline_s"] + TOL_S:
            problems.append(f"{job}: ends at {end:g} s after its deadline {spec['deadline_s']:g} s")
        if end - start < spec["duration_s"] - TOL_S:
            problems.append(
                f"{job}: runs {end - start:g} s, shorter than its {spec['duration_s']:g} s"
            )
        if capped:
            if power > float(cap) * spec["gpus"] + TOL_W:
                problems.append(
                    f"{job}: draws {power:g} W above its cap {cap} W x {spec['gpus']} GPUs"
                )
            if power > spec["power_w"] + TOL_W:
                problems.append(f"{job}: a cap cannot raise power above {spec['power_w']:g} W")
        elif abs(power - spec["power_w"]) > TOL_W:
            problems.append(
                f"{job}: uncapped but draws {power:g} W instead of {spec['power_w']:g} W"
            )
    profile = power_profile(schedule, cluster, gpus=table.loc[ids, "gpus"].reset_index(drop=True))
    peak = float(profile["power_w"].max())
    busiest = int(profile["gpus"].max())
    if busiest > cluster.gpus:
        t = float(profile["time_s"].iloc[int(profile["gpus"].to_numpy().argmax())])
        problems.append(f"{busiest} GPUs busy at {t:g} s; the cluster has {cluster.gpus}")
    if peak > cluster.power_budget_w + TOL_W:
        t = float(profile["time_s"].iloc[int(profile["power_w"].to_numpy().argmax())])
        problems.append(
            f"cluster draws {peak:.1f} W at {t:g} s; the budget is {cluster.power_budget_w:g} W"
        )
    return FeasibilityReport(not problems, problems, peak, busiest)
