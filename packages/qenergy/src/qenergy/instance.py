"""The scheduling instance in integer seconds and watts, shared by every method.

Each job has one or more *options*: uncapped, or a per-GPU power cap from a discrete set
(fractions of its uncapped per-GPU draw). A cap lowers the job's dynamic power (draw above
idle) and stretches its run time by ``(dyn_uncapped / dyn_capped) ** cap_slowdown_exponent``
(docs/qenergy.md explains the model and its sources). Times are rounded outwards (release up,
deadline down, duration up) and power up, so a schedule feasible here is feasible in the job
table's own float values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qenergy.cluster import Cluster
from qenergy.errors import InfeasibleJobs, InvalidParameter
from qenergy.jobs import load_jobs

__all__ = ["DEFAULT_SLOWDOWN_EXPONENT", "Instance", "Option", "build_instance"]

DEFAULT_SLOWDOWN_EXPONENT = 0.25


@dataclass(frozen=True)
class Option:
    duration: int  # whole seconds, rounded up
    delta_w: int  # power above the idle draw of the job's GPUs, rounded up
    duration_s: float  # exact
    power_w: float  # exact job total while running
    cap_w: float | None  # per-GPU cap, None when uncapped


@dataclass
class Instance:
    job_ids: list[str]
    gpus: np.ndarray
    release: np.ndarray  # int seconds
    deadline: np.ndarray  # int seconds (latest end)
    options: list[list[Option]]
    capacity: int
    budget_delta: int  # power budget above the cluster's idle draw, whole watts (rounded down)
    cluster: Cluster
    jobs: pd.DataFrame
    idle_w_per_gpu: float
    origin: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.job_ids)

    @property
    def has_caps(self) -> bool:
        return any(len(o) > 1 for o in self.options)

    def dyn_energy(self, j: int, k: int) -> float:
        """Energy above the idle floor of job ``j`` run with option ``k`` (J, exact)."""
        o = self.options[j][k]
        return o.duration_s * (o.power_w - self.idle_w_per_gpu * self.gpus[j])

    def features(self) -> dict[str, float]:
        """Numbers the method chooser reads: size, tightness of deadlines and budget."""
        mins = np.array([min(o.duration for o in opts) for opts in self.options], float)
        window = (self.deadline - self.release).astype(float)
        load = float(np.sum(mins * self.gpus)) / max(
            1.0, float(np.ptp(np.r_[self.release, self.deadline])) * self.capacity
        )
        dmax = np.array([max(o.delta_w for o in opts) for opts in self.options], float)
        return {
            "n_jobs": float(self.n),
            "slack": float(np.median(window / mins)),
            "gpu_load": load,
            "power_tightness": float(
                np.sum(dmax * mins)
                / max(1.0, self.budget_delta * float(np.ptp(np.r_[self.release, self.deadline])))
            ),
            "caps": float(self.has_caps),
        }


def _caps(caps: object) -> tuple[float, ...]:
    if caps is None:
        return ()
    if isinstance(caps, str | bytes) or not isinstance(caps, Sequence):
        raise InvalidParameter(
            f"caps: expected a list of fractions like (0.85, 0.7), got {caps!r}."
        )
    out = []
    for c in caps:
        if (
            isinstance(c, bool)
            or not isinstance(c, numbers.Real)
            or not math.isfinite(c)
            or not 0 < c < 1
        ):
            raise InvalidParameter(
                f"caps: {c!r} is not a fraction in (0, 1); a cap is a share of the job's "
                "uncapped per-GPU draw."
            )
        out.append(float(c))
    return tuple(sorted(set(out), reverse=True))


def build_instance(
    jobs: object,
    cluster: Cluster,
    caps: Sequence[float] | None = None,
    cap_slowdown_exponent: float = DEFAULT_SLOWDOWN_EXPONENT,
) -> Instance:
    """Validate ``jobs`` against ``cluster`` and build the integer instance.

    Raises :class:`InfeasibleJobs` naming every job that cannot meet its deadline or fit the
    cluster even when it runs alone, with the reason for each.
    """
    if not isinstance(cluster, Cluster):
        raise InvalidParameter(f"cluster: expected qenergy.Cluster, got {type(cluster).__name__}.")
    fractions = _caps(caps)
    g = cap_slowdown_exponent
    if (
        isinstance(g, bool)
        or not isinstance(g, int | float)
        or not (math.isfinite(g) and 0 <= g <= 2)
    ):
        raise InvalidParameter(
            f"cap_slowdown_exponent: {g!r}; use a number in [0, 2] (default 0.25)."
        )
    frame = load_jobs(jobs)
    idle = cluster.idle_w_per_gpu
    budget_delta = math.floor(cluster.power_budget_w - cluster.idle_power_w + 1e-9)
    ids = list(frame["job_id"])
    gpus = frame["gpus"].to_numpy(np.int64)
    release = np.ceil(frame["submit_s"].to_numpy(float) - 1e-9).astype(np.int64)
    deadline = np.floor(frame["deadline_s"].to_numpy(float) + 1e-9).astype(np.int64)
    options: list[list[Option]] = []
    reasons: dict[str, str] = {}
    for j, job in enumerate(ids):
        power = float(frame["power_w"].iloc[j])
        dur = float(frame["duration_s"].iloc[j])
        per_gpu = power / gpus[j]
        if per_gpu < idle:
            reasons[job] = (
                f"power_w {power:g} W is below the idle draw of its {gpus[j]} GPUs "
                f"({idle * gpus[j]:g} W); check the units or idle_w_per_gpu"
            )
            options.append([])
            continue
        opts = [
            Option(
                math.ceil(dur - 1e-9), math.ceil(power - idle * gpus[j] - 1e-9), dur, power, None
            )
        ]
        for f in fractions:
            cap = f * per_gpu
            if cap <= idle * 1.05:  # a cap at idle would stall the job; not an option
                continue
            ratio = (per_gpu - idle) / (cap - idle)
            d = dur * ratio**g
            p = cap * gpus[j]
            opts.append(
                Option(math.ceil(d - 1e-9), math.ceil(p - idle * gpus[j] - 1e-9), d, p, cap)
            )
        options.append(opts)
        why = []
        if gpus[j] > cluster.gpus:
            why.append(f"needs {gpus[j]} GPUs, the cluster has {cluster.gpus}")
        least = min(o.delta_w for o in opts)
        if least > budget_delta:
            why.append(
                f"draws {least + idle * cluster.gpus:g} W with the rest idle "
                f"(lowest cap), over the budget of {cluster.power_budget_w:g} W"
            )
        shortest = min(o.duration for o in opts)
        if release[j] + shortest > deadline[j]:
            why.append(
                f"runs {shortest} s but only {deadline[j] - release[j]} s lie between "
                "submit_s and deadline_s"
            )
        if why:
            reasons[job] = "; ".join(why)
    if reasons:
        listed = "; ".join(f"{j}: {r}" for j, r in list(reasons.items())[:5])
        more = f" (and {len(reasons) - 5} more)" if len(reasons) > 5 else ""
        raise InfeasibleJobs(
            f"jobs: {len(reasons)} job(s) cannot be scheduled even alone: {listed}{more}.", reasons
        )
    return Instance(
        job_ids=ids,
        gpus=gpus,
        release=release,
        deadline=deadline,
        options=options,
        capacity=cluster.gpus,
        budget_delta=budget_delta,
        cluster=cluster,
        jobs=frame,
        idle_w_per_gpu=idle,
        origin=int(release.min()),
    )
