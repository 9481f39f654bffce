"""Replay a load trace through a scaler and count what it costs and what it misses.

Each step lasts ``step_seconds``. The load (requests per step, any unit) is served by the
replicas that are ready; a replica asked for becomes ready ``startup_steps`` later (pods take
time to start), one removed stops at once. A step violates the SLO when the load per ready
replica exceeds ``slo_utilisation`` times a replica's capacity. Replica-hours count every
replica asked for (starting ones cost money too).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qops.scaling.forecast import HoltWintersForecaster, PredictiveScaler
from qops.scaling.hpa import HorizontalPodAutoscaler
from qops.validation import check_int, check_number, check_series

__all__ = ["SimulationResult", "capacity_for_peak", "compare_scalers", "simulate"]

# (time s, replicas asked for now, load this step) -> replicas asked for from now on
Policy = Callable[[float, int, float], int]


@dataclass(frozen=True)
class SimulationResult:
    name: str
    slo_violations: int
    steps: int
    replica_hours: float
    peak_replicas: int
    replicas: np.ndarray  # asked for, per step
    ready: np.ndarray  # ready, per step

    @property
    def violation_rate(self) -> float:
        return self.slo_violations / self.steps


def simulate(
    name: str,
    load: np.ndarray,
    policy: Policy,
    capacity: float,
    step_seconds: float = 300.0,
    startup_steps: int = 2,
    slo_utilisation: float = 1.0,
    initial_replicas: int = 1,
) -> SimulationResult:
    trace = check_series("load", load)
    check_number("capacity", capacity, low=0.0, low_open=True)
    check_number("step_seconds", step_seconds, low=0.0, low_open=True)
    check_int("startup_steps", startup_steps, low=0)
    check_number("slo_utilisation", slo_utilisation, low=0.0, low_open=True)
    asked = check_int("initial_replicas", initial_replicas, low=1)
    ready = asked
    pending: deque[tuple[int, int]] = deque()  # (step it becomes ready, how many)
    asked_log = np.zeros(trace.size, dtype=np.int64)
    ready_log = np.zeros(trace.size, dtype=np.int64)
    violations = 0
    for step, value in enumerate(trace):
        while pending and pending[0][0] <= step:
            ready += pending.popleft()[1]
        if value > slo_utilisation * capacity * ready:
            violations += 1
        asked_log[step], ready_log[step] = asked, ready
        new = policy(step * step_seconds, asked, float(value))
        if new > asked:
            pending.append((step + 1 + startup_steps, new - asked))
        elif new < asked:
            drop = asked - new
            # cancel starting replicas first, then stop ready ones
            while drop and pending:
                at, count = pending.pop()
                take = min(count, drop)
                drop -= take
                if count > take:
                    pending.append((at, count - take))
            ready -= drop
        asked = new
    return SimulationResult(
        name,
        violations,
        int(trace.size),
        float(asked_log.sum() * step_seconds / 3600.0),
        int(asked_log.max()),
        asked_log,
        ready_log,
    )


def compare_scalers(
    load: np.ndarray,
    capacity: float,
    season_length: int,
    step_seconds: float = 300.0,
    startup_steps: int = 2,
    target_utilisation: float = 0.7,
    max_replicas: int = 100,
    horizon: int | None = None,
) -> tuple[SimulationResult, SimulationResult]:
    """Reactive HPA vs HPA + Holt-Winters forecast on the same trace, same settings. The HPA
    metric is the utilisation of the replicas asked for, its target ``target_utilisation``."""

    def make_hpa() -> HorizontalPodAutoscaler:
        return HorizontalPodAutoscaler(
            target=target_utilisation, min_replicas=1, max_replicas=max_replicas
        )

    hpa = make_hpa()

    def reactive(now: float, asked: int, value: float) -> int:
        return hpa.recommend(now, asked, value / (capacity * asked))

    predictive_hpa = make_hpa()
    scaler = PredictiveScaler(
        predictive_hpa,
        HoltWintersForecaster(
            season_length,
            horizon=horizon or startup_steps + 2,
            refit_every=max(1, season_length // 2),
        ),
        capacity_target=target_utilisation * capacity,
    )

    def predictive(now: float, asked: int, value: float) -> int:
        return scaler.decide(now, asked, value).replicas

    common = dict(capacity=capacity, step_seconds=step_seconds, startup_steps=startup_steps)
    return (
        simulate("reactive", load, reactive, **common),  # type: ignore[arg-type]
        simulate("predictive", load, predictive, **common),
    )  # type: ignore[arg-type]


def capacity_for_peak(load: np.ndarray, peak_replicas: int, target_utilisation: float) -> float:
    """The per-replica capacity that makes the trace's peak need ``peak_replicas`` at target."""
    return float(np.max(load)) / (peak_replicas * target_utilisation) if np.max(load) > 0 else 1.0
