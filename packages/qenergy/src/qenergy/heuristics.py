"""List scheduling: a priority rule orders the jobs, a serial schedule-generation scheme places
each at the best start its window allows given what is already placed (GPUs and power as two
cumulative resources). Placement rules: ``earliest`` (left-justified, least makespan, so least
idle energy) and ``flattest`` (the start whose window has the lowest power already placed, for
the peak objective). With caps, every option of a job is tried and the best one kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from qenergy.instance import Instance
from qenergy.result import Assignment

__all__ = ["PRIORITY_RULES", "Profile", "list_schedule", "serial_schedule"]


class Profile:
    """Piecewise-constant GPU and power usage over integer time; segment i is [t[i], t[i+1])."""

    def __init__(self, origin: int) -> None:
        self.t = np.array([origin], dtype=np.int64)
        self.g = np.zeros(1, dtype=np.int64)
        self.p = np.zeros(1, dtype=np.int64)

    def _split(self, at: int) -> None:
        i = int(np.searchsorted(self.t, at, side="right")) - 1
        if i >= 0 and self.t[i] == at:
            return
        self.t = np.insert(self.t, i + 1, at)
        self.g = np.insert(self.g, i + 1, self.g[i])
        self.p = np.insert(self.p, i + 1, self.p[i])

    def add(self, start: int, end: int, gpus: int, power: int) -> None:
        self._split(start)
        self._split(end)
        a = int(np.searchsorted(self.t, start))
        b = int(np.searchsorted(self.t, end))
        self.g[a:b] += gpus
        self.p[a:b] += power

    def window_max(self, starts: np.ndarray, duration: int) -> tuple[np.ndarray, np.ndarray]:
        """Max GPU and power usage over [s, s + duration) for every s in ``starts``."""
        a = np.searchsorted(self.t, starts, side="right") - 1
        b = np.searchsorted(self.t, starts + duration, side="left")
        b = np.maximum(b, a + 1)
        idx = np.empty(2 * len(starts), dtype=np.int64)
        idx[0::2], idx[1::2] = a, b
        gs = np.r_[self.g, 0]
        ps = np.r_[self.p, 0]
        return np.maximum.reduceat(gs, idx)[0::2], np.maximum.reduceat(ps, idx)[0::2]

    def candidates(self, lo: int, hi: int, duration: int, right: bool) -> np.ndarray:
        """Starts worth trying in [lo, hi]: lo, hi, breakpoints, and (``right``) breakpoints - d."""
        inside = self.t[(self.t > lo) & (self.t <= hi)]
        parts = [np.array([lo, hi], dtype=np.int64), inside]
        if right:
            back = self.t - duration
            parts.append(back[(back > lo) & (back <= hi)])
        return np.unique(np.concatenate(parts))


def _place(
    inst: Instance, prof: Profile, j: int, k: int, placement: str, earliest: int | None = None
) -> tuple[int, int] | None:
    """(start, resulting window power peak) of option k of job j, or None if it fits nowhere.
    ``earliest`` (a decoder's hint) raises the job's release for this placement only."""
    o = inst.options[j][k]
    lo = int(inst.release[j]) if earliest is None else max(int(inst.release[j]), earliest)
    hi = int(inst.deadline[j]) - o.duration
    if hi < lo:
        return None
    cands = prof.candidates(lo, hi, o.duration, right=placement == "flattest")
    gmax, pmax = prof.window_max(cands, o.duration)
    ok = (gmax + inst.gpus[j] <= inst.capacity) & (pmax + o.delta_w <= inst.budget_delta)
    if not ok.any():
        return None
    if placement == "earliest":
        i = int(np.flatnonzero(ok)[0])
    else:
        score = np.where(ok, pmax, np.iinfo(np.int64).max)
        i = int(np.argmin(score))  # ties: the earliest, as argmin returns the first
    return int(cands[i]), int(pmax[i] + o.delta_w)


def serial_schedule(
    inst: Instance,
    order: Sequence[int],
    placement: str,
    objective: str,
    preferred: np.ndarray | None = None,
    release: np.ndarray | None = None,
) -> Assignment | None:
    """Place jobs in ``order``; None when one cannot be placed. ``release`` overrides the
    earliest start per job (a decoder's hint), falling back to the real release if needed;
    ``preferred`` restricts each job to one option first (falling back to all)."""
    prof = Profile(int(min(inst.release.min(), inst.origin)))
    start = np.zeros(inst.n, dtype=np.int64)
    option = np.zeros(inst.n, dtype=np.int64)
    makespan = int(inst.release.min())
    idle = inst.cluster.idle_power_w
    for j in order:
        choices = list(range(len(inst.options[j])))
        tries = [[int(preferred[j])], choices] if preferred is not None else [choices]
        best = None
        for allowed in tries:
            for rel in [int(release[j]), None] if release is not None else [None]:
                for k in allowed:
                    placed = _place(inst, prof, j, k, placement, rel)
                    if placed is None:
                        continue
                    s, peak = placed
                    o = inst.options[j][k]
                    if objective == "peak":
                        key = (peak, inst.dyn_energy(j, k), s)
                    else:
                        key = (
                            inst.dyn_energy(j, k) + idle * max(0, s + o.duration - makespan),
                            peak,
                            s,
                        )
                    if best is None or key < best[0]:
                        best = (key, s, k)
                if best is not None:
                    break
            if best is not None:
                break
        if best is None:
            return None
        _, s, k = best
        o = inst.options[j][k]
        prof.add(s, s + o.duration, int(inst.gpus[j]), o.delta_w)
        start[j], option[j] = s, k
        makespan = max(makespan, s + o.duration)
    return Assignment(start, option)


def _min_dur(inst: Instance, j: int) -> int:
    return min(o.duration for o in inst.options[j])


PRIORITY_RULES: dict[str, Callable[[Instance], list[int]]] = {
    "edf": lambda inst: sorted(range(inst.n), key=lambda j: (inst.deadline[j], inst.release[j], j)),
    "least_slack": lambda inst: sorted(
        range(inst.n), key=lambda j: (inst.deadline[j] - _min_dur(inst, j), j)
    ),
    "fcfs": lambda inst: sorted(
        range(inst.n), key=lambda j: (inst.release[j], inst.deadline[j], j)
    ),
    "largest_first": lambda inst: sorted(
        range(inst.n), key=lambda j: (-inst.options[j][0].delta_w * inst.options[j][0].duration, j)
    ),
    "tightest_first": lambda inst: sorted(
        range(inst.n), key=lambda j: ((inst.deadline[j] - inst.release[j]) / _min_dur(inst, j), j)
    ),
}


def list_schedule(
    inst: Instance, objective: str, rules: Sequence[str] | None = None
) -> tuple[Assignment | None, str]:
    """The best feasible assignment over priority rules and placements, and its rule name."""
    from qenergy.result import evaluate, objective_value  # evaluation is exact (float) here

    placements = ("flattest", "earliest") if objective == "peak" else ("earliest", "flattest")
    best: tuple[float, Assignment, str] | None = None
    for rule in rules or PRIORITY_RULES:
        order = PRIORITY_RULES[rule](inst)
        for placement in placements:
            assign = serial_schedule(inst, order, placement, objective)
            if assign is None:
                continue
            res = evaluate(inst, assign, "list", objective)
            value = objective_value(res.peak_w, res.energy_j, objective)
            if best is None or value < best[0] - 1e-9:
                best = (value, assign, f"{rule}/{placement}")
    if best is None:
        return None, "none feasible"
    return best[1], best[2]
