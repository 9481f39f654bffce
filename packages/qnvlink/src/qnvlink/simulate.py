"""A flow-level simulator: max-min fair sharing of directed links, event by event.

Every nonzero ``traffic[i, j]`` is one flow from the GPU of rank ``i`` to the GPU of rank ``j``
along the fabric's route (split over parallel switch planes). All flows start together. At
each moment the rates are the max-min fair allocation (progressive filling: raise every
unfrozen flow's rate equally until a link saturates, freeze the flows on it, repeat); when
the next flow finishes the rates are recomputed. A flow's completion time adds its path
latency. The communication time is the last completion. This is the standard fluid model
(Bertsekas & Gallager, Data Networks, 6.5); it ignores packet-level effects and NCCL's
protocol overheads, so it ranks plans rather than predicting wall time to the microsecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from qnvlink.fabric import Fabric

__all__ = ["FlowSet", "SimResult", "build_flows", "link_loads", "simulate"]

_EPS = 1e-9


@dataclass(frozen=True)
class FlowSet:
    """Flows of a traffic matrix under a mapping, with their routes as a sparse matrix."""

    src: np.ndarray  # rank
    dst: np.ndarray
    nbytes: np.ndarray
    latency: np.ndarray
    hops: np.ndarray
    usage: csr_matrix  # flows x directed resources: fraction of the flow on each


@dataclass(frozen=True)
class SimResult:
    time_s: float  # last flow completion (seconds)
    finish_s: np.ndarray  # per flow
    events: int


def build_flows(fabric: Fabric, traffic: np.ndarray, mapping: np.ndarray) -> FlowSet:
    src, dst = np.nonzero(traffic)
    nbytes = traffic[src, dst]
    gsrc, gdst = mapping[src], mapping[dst]
    rows, cols, vals = [], [], []
    latency = np.zeros(len(src))
    hops = np.zeros(len(src), dtype=np.int64)
    for f, (a, b) in enumerate(zip(gsrc.tolist(), gdst.tolist(), strict=True)):
        route = fabric.route(a, b)
        rows.append(np.full(len(route.resources), f))
        cols.append(route.resources)
        vals.append(route.fractions)
        latency[f] = route.latency
        hops[f] = route.hops
    shape = (len(src), len(fabric.capacity))
    if rows:
        usage = csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
        )
    else:
        usage = csr_matrix(shape)
    return FlowSet(src, dst, nbytes, latency, hops, usage)


def link_loads(flows: FlowSet) -> np.ndarray:
    """Bytes crossing each directed resource."""
    return np.asarray(flows.usage.T @ flows.nbytes).ravel()


def _max_min(usage: csr_matrix, capacity: np.ndarray) -> np.ndarray:
    n = usage.shape[0]
    rate = np.zeros(n)
    frozen = np.zeros(n, dtype=bool)
    remaining = capacity.copy()
    usage_t = usage.T.tocsr()
    while not frozen.all():
        load = usage_t @ (~frozen).astype(float)
        used = load > _EPS
        if not used.any():  # flows with empty routes (cannot happen for distinct GPUs)
            rate[~frozen] = np.inf
            break
        step = np.min(remaining[used] / load[used])
        rate[~frozen] += step
        remaining -= step * load
        saturated = used & (remaining <= _EPS * capacity)
        hit = (usage @ saturated.astype(float)) > 0
        newly = hit & ~frozen
        if not newly.any():  # numerical guard: freeze the flows on the tightest link
            tight = np.zeros_like(used)
            tight[np.flatnonzero(used)[np.argmin(remaining[used] / capacity[used])]] = True
            newly = ((usage @ tight.astype(float)) > 0) & ~frozen
        frozen |= newly
    return rate


def simulate(fabric: Fabric, flows: FlowSet) -> SimResult:
    """Run the fluid simulation of ``flows`` on ``fabric``."""
    n = len(flows.nbytes)
    finish = np.zeros(n)
    if n == 0:
        return SimResult(0.0, finish, 0)
    remaining = flows.nbytes.astype(float).copy()
    active = np.flatnonzero(remaining > 0)
    now = 0.0
    events = 0
    while active.size:
        events += 1
        rates = _max_min(flows.usage[active], fabric.capacity)
        times = remaining[active] / rates
        dt = float(times.min())
        done = times <= dt * (1 + 1e-9)
        now += dt
        remaining[active] -= rates * dt
        finish[active[done]] = now
        remaining[active[done]] = 0.0
        active = active[~done]
    finish = finish + flows.latency
    return SimResult(float(finish.max()), finish, events)
