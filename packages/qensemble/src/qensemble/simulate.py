"""A discrete-event simulation of a heterogeneous worker pool, to measure balancers.

Tasks arrive over time (Poisson, seeded) and are sent at once to a worker's queue by the
balancer; each worker runs its queue in order at its own speed, fails a task with its own
probability (the task then goes back to the balancer, which avoids the worker it failed on),
and may die at a given time (its queued and running tasks move to other workers). Both
balancers see the same arrivals, durations and failure draws (one seeded stream per worker).
The simulation is what the load-balancer benchmark measures; real training in
:class:`~qensemble.Ensemble` uses the same balancer objects.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qensemble._checks import check_int
from qensemble.balancer import make_balancer
from qensemble.errors import InvalidParameter

__all__ = ["PoolReport", "simulate_pool"]


@dataclass
class PoolReport:
    balancer: str
    makespan: float  # time the last task finished
    mean_latency: float  # completion minus arrival, averaged over tasks
    p95_latency: float
    retries: int  # task runs that failed or were interrupted and had to move
    per_worker: list[int]  # successful tasks per worker


def simulate_pool(
    balancer: str,
    speeds: Sequence[float],
    *,
    failure_rates: Sequence[float] | None = None,
    capability: Sequence[float] | None = None,
    n_tasks: int = 400,
    load: float = 0.8,
    die_at: dict[int, float] | None = None,
    seed: int = 0,
) -> PoolReport:
    """Run ``n_tasks`` unit tasks (duration ``Exp(1) / speed``) through a pool.

    ``load``: arrival rate as a fraction of the pool's total speed. ``capability`` is what
    the balancer is told up front (default: all workers equal, so speed must be learned);
    ``die_at``: worker -> time it stops for good.
    """
    speed = np.asarray(speeds, dtype=np.float64)
    n = speed.size
    if n == 0 or not np.all(np.isfinite(speed)) or np.any(speed <= 0):
        raise InvalidParameter("speeds: pass at least one positive finite speed per worker.")
    fail = np.zeros(n) if failure_rates is None else np.asarray(failure_rates, dtype=np.float64)
    if fail.shape != (n,) or np.any(fail < 0) or np.any(fail >= 1):
        raise InvalidParameter(f"failure_rates: pass {n} probabilities in [0, 1).")
    tasks = check_int(n_tasks, "n_tasks", 1)
    if isinstance(load, bool) or not float(load) > 0:
        raise InvalidParameter(f"load: is {load!r}; pass a positive arrival-rate fraction.")
    deaths = dict(die_at or {})
    if len(deaths) >= n:
        raise InvalidParameter("die_at: at least one worker must stay alive.")
    policy = make_balancer(balancer, n, capability)
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / (float(load) * speed.sum()), size=tasks))
    work = rng.exponential(1.0, size=tasks)  # each task's size, the same whoever runs it
    worker_rng = [np.random.default_rng([seed, w]) for w in range(n)]

    queues: list[deque[int]] = [deque() for _ in range(n)]
    running: list[tuple[int, float] | None] = [None] * n  # (task, start time)
    tried: list[set[int]] = [set() for _ in range(tasks)]
    done_at = np.full(tasks, np.nan)
    retries = 0
    per_worker = [0] * n
    alive = set(range(n))
    events: list[tuple[float, int, str, int, int]] = []  # (time, seq, kind, worker, task)
    seq = 0

    def push(t: float, kind: str, worker: int, task: int) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, worker, task))
        seq += 1

    def start_next(worker: int, now: float) -> None:
        if running[worker] is not None or not queues[worker] or worker not in alive:
            return
        task = queues[worker].popleft()
        running[worker] = (task, now)
        duration = work[task] / speed[worker]
        ok = worker_rng[worker].random() >= fail[worker]
        push(now + duration, "done" if ok else "fail", worker, task)

    def dispatch(task: int, now: float) -> None:
        worker = policy.choose(alive, exclude=tried[task])
        policy.started(worker)
        queues[worker].append(task)
        start_next(worker, now)

    for i, t in enumerate(arrivals):
        push(float(t), "arrive", -1, i)
    for w, t in deaths.items():
        push(float(t), "die", int(w), -1)
    while events:
        now, _, kind, worker, task = heapq.heappop(events)
        if kind == "arrive":
            dispatch(task, now)
        elif kind == "die":
            alive.discard(worker)
            moved = list(queues[worker])
            queues[worker].clear()
            if running[worker] is not None:
                moved.insert(0, running[worker][0])
                running[worker] = None
            for t_ in moved:
                retries += 1
                policy.finished(worker, 0.0, ok=False)
                tried[t_].add(worker)
                dispatch(t_, now)
        else:
            if worker not in alive or running[worker] is None or running[worker][0] != task:
                continue  # the worker died while this task ran: already moved
            started = running[worker][1]
            running[worker] = None
            ok = kind == "done"
            policy.finished(worker, now - started, ok)
            if ok:
                done_at[task] = now
                per_worker[worker] += 1
            else:
                retries += 1
                tried[task].add(worker)
                dispatch(task, now)
            start_next(worker, now)
    latency = done_at - arrivals
    return PoolReport(
        balancer,
        float(np.nanmax(done_at)),
        float(np.mean(latency)),
        float(np.percentile(latency, 95)),
        retries,
        per_worker,
    )
