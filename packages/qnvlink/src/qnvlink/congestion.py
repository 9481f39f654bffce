"""Swap search on link congestion (what the simulator's time follows), with incremental deltas.

Hop-bytes and the quadratic-assignment objective reward cutting few bytes between boxes, but
a cut concentrated on one NIC is slower than a larger one spread over all rails. This search
minimises ``sum_e (load_e / capacity_e)^p`` over directed links (``p = 8``: a smooth stand-in
for the busiest link that still rewards relieving the second busiest). A move swaps the GPUs
of two ranks (or moves a rank to an idle GPU); only the flows of those two ranks are
re-routed, so a move costs O(their degree x path length). Candidates come mostly from the
flows on the currently busiest link. Seeded; stops after ``patience`` rejected moves in a
row, ``max_moves`` tries or at ``deadline``.
"""

from __future__ import annotations

import time

import numpy as np

from qnvlink.fabric import Fabric

__all__ = ["congestion_search", "utilisation_cost"]

POWER = 8


def utilisation_cost(loads: np.ndarray, capacity: np.ndarray, scale: float) -> float:
    return float(np.sum((loads / capacity / scale) ** POWER))


def congestion_search(
    fabric: Fabric,
    traffic: np.ndarray,
    perm: np.ndarray,
    n: int,
    *,
    seed: int = 0,
    max_moves: int | None = None,
    patience: int | None = None,
    deadline: float | None = None,
) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    perm = perm.copy()
    size = len(perm)
    src, dst = np.nonzero(traffic)
    nbytes = traffic[src, dst]
    flows = len(src)
    if flows == 0:
        return perm, {"moves": 0, "accepted": 0}
    rank_flows: list[list[int]] = [[] for _ in range(size)]
    for f, (a, b) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
        rank_flows[a].append(f)
        rank_flows[b].append(f)
    capacity = fabric.capacity
    loads = np.zeros(len(capacity))
    routes = []
    on_link: dict[int, set[int]] = {}
    for f in range(flows):
        route = fabric.route(int(perm[src[f]]), int(perm[dst[f]]))
        routes.append(route)
        np.add.at(loads, route.resources, nbytes[f] * route.fractions)
        for res in route.resources.tolist():
            on_link.setdefault(res, set()).add(f)
    scale = float((loads / capacity).max()) or 1.0
    start_peak = scale
    max_moves = max_moves if max_moves is not None else 40 * size + 2000
    patience = patience if patience is not None else 10 * size + 500
    accepted = rejected = moves = 0
    real = np.array([r for r in range(n) if rank_flows[r]])
    while moves < max_moves and rejected < patience:
        moves += 1
        if deadline is not None and moves % 64 == 0 and time.perf_counter() > deadline:
            break
        top = int(np.argmax(loads / capacity))
        crowd = on_link.get(top)
        if crowd and rng.random() < 0.7:
            f = list(crowd)[rng.integers(len(crowd))]
            a = int(src[f] if rng.random() < 0.5 else dst[f])
        else:
            a = int(real[rng.integers(len(real))])
        b = int(rng.integers(size))
        if a == b:
            continue
        affected = sorted(set(rank_flows[a]) | set(rank_flows[b]))
        trial = perm.copy()
        trial[a], trial[b] = perm[b], perm[a]
        new_routes = [fabric.route(int(trial[src[f]]), int(trial[dst[f]])) for f in affected]
        res = np.concatenate(
            [routes[f].resources for f in affected] + [r.resources for r in new_routes]
        )
        amount = np.concatenate(
            [-nbytes[f] * routes[f].fractions for f in affected]
            + [nbytes[f] * r.fractions for f, r in zip(affected, new_routes, strict=True)]
        )
        touched, inverse = np.unique(res, return_inverse=True)
        delta = np.bincount(inverse, amount)
        before = utilisation_cost(loads[touched], capacity[touched], scale)
        after = utilisation_cost(np.maximum(loads[touched] + delta, 0.0), capacity[touched], scale)
        if after < before * (1 - 1e-9):
            loads[touched] = np.maximum(loads[touched] + delta, 0.0)
            for f, route in zip(affected, new_routes, strict=True):
                for r in routes[f].resources.tolist():
                    on_link[r].discard(f)
                for r in route.resources.tolist():
                    on_link.setdefault(r, set()).add(f)
                routes[f] = route
            perm = trial
            accepted += 1
            rejected = 0
        else:
            rejected += 1
    peak = float((loads / capacity).max())
    return perm, {
        "moves": moves,
        "accepted": accepted,
        "start_peak_s": start_peak,
        "peak_s": peak,
    }
