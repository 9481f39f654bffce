"""A mapping's metrics: hop-bytes, busiest link, simulated time, and lower bounds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from qnvlink.fabric import Fabric
from qnvlink.simulate import build_flows, link_loads, simulate

__all__ = ["Metrics", "evaluate", "hop_time", "lower_bound"]


@dataclass(frozen=True)
class Metrics:
    """What a plan costs.

    - ``hop_bytes``: sum over flows of bytes x links crossed.
    - ``hop_time_s``: the optimisers' objective, sum over flows of bytes x route distance
      (seconds per byte along the path, store-and-forward), as if each ran alone.
    - ``max_congestion_s``: bytes on the busiest directed link / its bandwidth. No schedule
      finishes before it, so it is also the plan's own lower bound.
    - ``sim_time_s``: the flow-level simulation (max-min fair sharing), ``None`` if skipped.
    - ``lower_bound_s``: a bound for *every* mapping: the busiest rank's bytes in or out over
      the largest injection bandwidth of any GPU.
    """

    hop_bytes: float
    hop_time_s: float
    max_congestion_s: float
    busiest_link: str
    sim_time_s: float | None
    lower_bound_s: float
    flows: int

    def to_dict(self) -> dict:
        return asdict(self)


def hop_time(fabric: Fabric, traffic: np.ndarray, mapping: np.ndarray) -> float:
    src, dst = np.nonzero(traffic)
    return float(np.sum(traffic[src, dst] * fabric.distance[mapping[src], mapping[dst]]) / 1e6)


def lower_bound(fabric: Fabric, traffic: np.ndarray) -> float:
    per_rank = np.maximum(traffic.sum(axis=1), traffic.sum(axis=0)).max()
    return float(per_rank / fabric.injection_bandwidth().max())


def evaluate(
    fabric: Fabric, traffic: np.ndarray, mapping: np.ndarray, *, run_simulation: bool = True
) -> Metrics:
    """The metrics of ``mapping`` (rank -> GPU index) for ``traffic`` on ``fabric``."""
    flows = build_flows(fabric, traffic, mapping)
    loads = link_loads(flows)
    if loads.size and loads.max() > 0:
        ratio = loads / fabric.capacity
        busiest = int(np.argmax(ratio))
        congestion, name = float(ratio[busiest]), fabric.resource_name(busiest)
    else:
        congestion, name = 0.0, ""
    sim = simulate(fabric, flows).time_s if run_simulation else None
    return Metrics(
        hop_bytes=float(np.sum(flows.nbytes * flows.hops)),
        hop_time_s=hop_time(fabric, traffic, mapping),
        max_congestion_s=congestion,
        busiest_link=name,
        sim_time_s=sim,
        lower_bound_s=lower_bound(fabric, traffic),
        flows=len(flows.nbytes),
    )
