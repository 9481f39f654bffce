"""Choosing a worker for the next piece of work.

:class:`MultiFactorBalancer` is the seeds' multi-factor node selection made concrete: a
worker's score is ``success_rate * speed * capability / (1 + load)``, where

- ``success_rate`` is the Laplace-smoothed fraction of its tasks that succeeded,
- ``speed`` is ``1 / (EWMA of its task seconds)`` relative to the fastest worker seen (a worker
  with no finished task yet is assumed as fast as the fastest, so every worker gets tried),
- ``capability`` is a static prior the caller gives (e.g. cores or a benchmark score), used
  alone until timings arrive, and
- ``load`` is the work already queued on it (tasks in flight, in units of its own speed).

:class:`RoundRobinBalancer` is the baseline: the next live worker in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qensemble._checks import check_int
from qensemble.errors import InvalidParameter

__all__ = ["BALANCERS", "MultiFactorBalancer", "RoundRobinBalancer", "WorkerStats", "make_balancer"]


@dataclass
class WorkerStats:
    successes: int = 0
    failures: int = 0
    in_flight: int = 0
    seconds: float | None = None  # EWMA of task durations

    @property
    def success_rate(self) -> float:
        return (self.successes + 1) / (self.successes + self.failures + 2)


class _Base:
    def __init__(self, n_workers: int, capability: Sequence[float] | None = None) -> None:
        self.n_workers = check_int(n_workers, "n_workers", 1)
        if capability is None:
            cap = np.ones(self.n_workers)
        else:
            cap = np.asarray(capability, dtype=np.float64)
            if cap.shape != (self.n_workers,) or not np.all(np.isfinite(cap)) or np.any(cap <= 0):
                raise InvalidParameter(
                    f"capability: pass {self.n_workers} positive finite numbers, one per worker."
                )
        self.capability = cap / cap.max()
        self.stats = [WorkerStats() for _ in range(self.n_workers)]

    def _candidates(self, live: Iterable[int] | None, exclude: Iterable[int]) -> list[int]:
        pool = list(range(self.n_workers)) if live is None else sorted(set(live))
        if not pool:
            raise InvalidParameter("live: no live worker to choose from.")
        avoided = set(exclude)
        preferred = [w for w in pool if w not in avoided]
        return preferred or pool  # a task may go back to a worker it failed on if none is left

    def started(self, worker: int) -> None:
        self.stats[worker].in_flight += 1

    def finished(self, worker: int, seconds: float, ok: bool, memory: float = 0.5) -> None:
        s = self.stats[worker]
        s.in_flight = max(0, s.in_flight - 1)
        if ok:
            s.successes += 1
            s.seconds = (
                seconds if s.seconds is None else memory * s.seconds + (1 - memory) * seconds
            )
        else:
            s.failures += 1

    def choose(self, live: Iterable[int] | None = None, exclude: Iterable[int] = ()) -> int:
        raise NotImplementedError


class MultiFactorBalancer(_Base):
    """Highest ``success_rate / ((1 + load) * expected_seconds)``; ties: the lower index.

    That is the expected rate of successful completions if the task joins the worker's queue:
    ``expected_seconds`` is the worker's measured EWMA task time (its speed), or, before its
    first success, the time a capability-1 worker has shown divided by its capability.
    """

    def expected_seconds(self, worker: int) -> float:
        s = self.stats[worker]
        if s.seconds is not None:
            return max(s.seconds, 1e-12)
        known = [(st.seconds, self.capability[w]) for w, st in enumerate(self.stats) if st.seconds]
        unit = float(np.median([sec * cap for sec, cap in known])) if known else 1.0
        return unit / self.capability[worker]

    def scores(self, candidates: Sequence[int]) -> np.ndarray:
        return np.array(
            [
                self.stats[w].success_rate
                / ((1 + self.stats[w].in_flight) * self.expected_seconds(w))
                for w in candidates
            ]
        )

    def choose(self, live: Iterable[int] | None = None, exclude: Iterable[int] = ()) -> int:
        candidates = self._candidates(live, exclude)
        return candidates[int(np.argmax(self.scores(candidates)))]


class RoundRobinBalancer(_Base):
    """The next live worker after the last one chosen (the baseline)."""

    def __init__(self, n_workers: int, capability: Sequence[float] | None = None) -> None:
        super().__init__(n_workers, capability)
        self._next = 0

    def choose(self, live: Iterable[int] | None = None, exclude: Iterable[int] = ()) -> int:
        candidates = self._candidates(live, exclude)
        for step in range(self.n_workers):
            w = (self._next + step) % self.n_workers
            if w in candidates:
                self._next = w + 1
                return w
        return candidates[0]


BALANCERS = {"multi_factor": MultiFactorBalancer, "round_robin": RoundRobinBalancer}


def make_balancer(
    name: str, n_workers: int, capability: Sequence[float] | None = None
) -> MultiFactorBalancer | RoundRobinBalancer:
    if name not in BALANCERS:
        raise InvalidParameter(f"balancer: unknown {name!r}; choose one of {', '.join(BALANCERS)}.")
    return BALANCERS[name](n_workers, capability)
