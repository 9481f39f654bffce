"""``map_ranks``: place a job's ranks on a fabric's GPUs and report what the plan costs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qnvlink.congestion import congestion_search
from qnvlink.errors import InvalidTraffic, TooManyRanks, UnknownMethod
from qnvlink.fabric import Fabric
from qnvlink.metrics import Metrics, evaluate
from qnvlink.partition import metis_map
from qnvlink.placement import exact, greedy, local_search, qap_cost, symmetric_weights
from qnvlink.qubo_map import qubo_map
from qnvlink.traffic import check_traffic

__all__ = ["METHODS", "Plan", "map_ranks", "remap"]

METHODS = ("identity", "greedy", "metis", "local", "congestion", "qubo", "exact", "best")


@dataclass
class Plan:
    """A rank -> GPU mapping with its metrics (``mapping[r]`` is a GPU index, device order)."""

    method: str
    mapping: np.ndarray
    metrics: Metrics
    wall_s: float
    fabric: Fabric = field(repr=False)
    traffic: np.ndarray = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def gpus(self) -> list[Hashable]:
        """The GPU id of each rank."""
        return [self.fabric.gpus[g] for g in self.mapping]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fabric": self.fabric.name,
            "ranks": len(self.mapping),
            "mapping": [
                {
                    "rank": r,
                    "gpu": str(self.fabric.gpus[g]),
                    "host": str(self.fabric.graph.nodes[self.fabric.gpus[g]]["host"]),
                    "device": int(self.fabric.graph.nodes[self.fabric.gpus[g]]["dev"]),
                }
                for r, g in enumerate(self.mapping.tolist())
            ],
            "metrics": self.metrics.to_dict(),
            "wall_s": self.wall_s,
            "info": self.info,
        }


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidTraffic(f"seed: is {seed!r}; use an integer >= 0.")
    return int(seed)


def _check_time_limit(value: object) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise InvalidTraffic(f"time_limit: is {value!r}; use seconds > 0, or None for no limit.")
    return float(value)


def _initial(fabric: Fabric, initial: object, n: int) -> np.ndarray:
    values = list(initial)  # type: ignore[call-overload]
    if len(values) != n:
        raise InvalidTraffic(f"initial: has {len(values)} entries; give one GPU per rank ({n}).")
    out = []
    for r, v in enumerate(values):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= v < fabric.num_gpus:
                raise InvalidTraffic(
                    f"initial[{r}]: GPU index {v} is not in 0..{fabric.num_gpus - 1}."
                )
            out.append(int(v))
        elif v in fabric.gpu_index:
            out.append(fabric.gpu_index[v])
        else:
            raise InvalidTraffic(f"initial[{r}]: {v!r} is not a GPU of fabric {fabric.name!r}.")
    if len(set(out)) != n:
        raise InvalidTraffic("initial: two ranks share a GPU; give each rank its own.")
    return np.array(out, dtype=np.int64)


def _pad(mapping: np.ndarray, size: int) -> np.ndarray:
    used = set(mapping.tolist())
    return np.concatenate([mapping, [g for g in range(size) if g not in used]]).astype(np.int64)


def map_ranks(
    fabric: Fabric,
    traffic: object,
    method: str = "best",
    *,
    seed: int = 0,
    initial: Sequence[int | Hashable] | None = None,
    solver: str = "auto",
    time_limit: float | None = None,
    simulate: bool = True,
    skip: Callable[[Fabric, np.ndarray, dict[str, np.ndarray]], set[str]] | None = None,
) -> Plan:
    """Place ``traffic``'s ranks on ``fabric``'s GPUs with ``method``.

    Methods: ``identity`` (rank r on GPU r), ``greedy`` (graph growing), ``metis``
    (recursive METIS along the fabric hierarchy), ``local`` (pairwise swaps from
    ``initial``, else from ``metis``), ``congestion`` (swaps that relieve the busiest links,
    from ``initial`` or the least congested cheap placement), ``qubo`` (the quadratic
    assignment as a BQM through ``qcore.solve(solver=...)``, small cases), ``exact``
    (enumeration, tiny cases) and ``best`` (identity, greedy, metis, metis on square-root
    weights, those three refined by local search, the two fastest of all refined by congestion
    search; the lowest simulated time
    wins; ``skip(fabric, traffic, {name: mapping})`` returns the names of candidates not to
    simulate, e.g. :class:`qnvlink.predictor.ContentionPredictor`'s verdict).
    """
    matrix = check_traffic(traffic)
    n = matrix.shape[0]
    if not isinstance(fabric, Fabric):
        raise InvalidTraffic(f"fabric: expected a qnvlink.Fabric, got {type(fabric).__name__}.")
    size = fabric.num_gpus
    if n > size:
        raise TooManyRanks(
            f"traffic: has {n} ranks but fabric {fabric.name!r} has {size} GPUs; use a bigger "
            "fabric or fewer ranks."
        )
    if method not in METHODS:
        raise UnknownMethod(f"method: is {method!r}; use one of {', '.join(METHODS)}.")
    seed = _check_seed(seed)
    time_limit = _check_time_limit(time_limit)
    start_mapping = None if initial is None else _initial(fabric, initial, n)
    started = time.perf_counter()
    weights = symmetric_weights(matrix, size)
    distance = (fabric.distance + fabric.distance.T) / 2
    info: dict[str, Any] = {}
    deadline = None if time_limit is None else started + time_limit

    def refine(perm: np.ndarray) -> np.ndarray:
        better, stats = local_search(
            weights, distance, perm, seed=seed, deadline=deadline, active=n
        )
        info.update({f"local_{k}": v for k, v in stats.items()})
        return better

    if method == "identity":
        perm = np.arange(size)
    elif method == "greedy":
        perm = greedy(weights, distance)
    elif method == "metis":
        perm = metis_map(fabric, weights, n, seed=seed)
    elif method == "local":
        base = (
            _pad(start_mapping, size)
            if start_mapping is not None
            else metis_map(fabric, weights, n, seed=seed)
        )
        perm = refine(base)
    elif method == "congestion":
        if start_mapping is not None:
            base = _pad(start_mapping, size)
        else:  # the start with the least busy link among the cheap placements
            starts = [
                np.arange(size),
                greedy(weights, distance),
                metis_map(fabric, weights, n, seed=seed),
            ]
            peaks = [
                evaluate(fabric, matrix, p[:n], run_simulation=False).max_congestion_s
                for p in starts
            ]
            base = starts[int(np.argmin(peaks))]
        perm, cinfo = congestion_search(fabric, matrix, base, n, seed=seed, deadline=deadline)
        info.update({f"congestion_{k}": v for k, v in cinfo.items()})
    elif method == "exact":
        perm = exact(weights, distance, n)
        info["proven_optimal"] = True
    elif method == "qubo":
        perm, qinfo = qubo_map(
            weights, distance, n, solver=solver, seed=seed, time_limit=time_limit
        )
        info.update(qinfo)
    else:
        return _best(
            fabric, matrix, weights, distance, n, seed, deadline, started, skip, start_mapping
        )
    mapping = perm[:n].astype(np.int64)
    info["objective"] = qap_cost(weights, distance, perm)
    wall = time.perf_counter() - started
    metrics = evaluate(fabric, matrix, mapping, run_simulation=simulate)
    return Plan(method, mapping, metrics, wall, fabric, matrix, info)


def _best(
    fabric: Fabric,
    matrix: np.ndarray,
    weights: Any,
    distance: np.ndarray,
    n: int,
    seed: int,
    deadline: float | None,
    started: float,
    skip: Callable[[Fabric, np.ndarray, dict[str, np.ndarray]], set[str]] | None,
    start_mapping: np.ndarray | None,
) -> Plan:
    size = fabric.num_gpus
    candidates: dict[str, np.ndarray] = {}
    if start_mapping is not None:  # first, so a tie keeps the current placement (no moves)
        candidates["initial"] = _pad(start_mapping, size)
    candidates["identity"] = np.arange(size)
    candidates["greedy"] = greedy(weights, distance)
    candidates["metis"] = metis_map(fabric, weights, n, seed=seed)
    candidates["metis-sqrt"] = metis_map(fabric, weights, n, seed=seed, transform="sqrt")
    bases = ("metis", "metis-sqrt", "greedy") + (("initial",) if start_mapping is not None else ())
    for base in bases:
        refined, _ = local_search(
            weights, distance, candidates[base], seed=seed, deadline=deadline, active=n
        )
        candidates[f"{base}+local"] = refined
    results: dict[str, dict[str, Any]] = {}
    best_name, best_metrics = None, None
    skipped: list[str] = []
    if skip is not None:
        verdict = skip(fabric, matrix, {k: v[:n] for k, v in candidates.items()})
        skipped = [k for k in candidates if k in verdict]
        if len(skipped) == len(candidates):  # a bad screen must not leave nothing to run
            skipped = skipped[1:]
    for name, perm in candidates.items():
        mapping = perm[:n]
        if name in skipped:
            continue
        metrics = evaluate(fabric, matrix, mapping)
        results[name] = {
            "sim_time_s": metrics.sim_time_s,
            "objective": qap_cost(weights, distance, perm),
        }
        key = (metrics.sim_time_s, results[name]["objective"])
        if best_metrics is None or key < (best_metrics.sim_time_s, results[best_name]["objective"]):
            best_name, best_metrics = name, metrics
    # the two fastest so far, refined on link congestion (what the simulated time follows)
    ranked = sorted(results, key=lambda k: (results[k]["sim_time_s"], results[k]["objective"]))
    for name in ranked[:2]:
        perm, _ = congestion_search(
            fabric, matrix, candidates[name], n, seed=seed, deadline=deadline
        )
        label = f"{name}+congestion"
        candidates[label] = perm
        metrics = evaluate(fabric, matrix, perm[:n])
        results[label] = {
            "sim_time_s": metrics.sim_time_s,
            "objective": qap_cost(weights, distance, perm),
        }
        key = (metrics.sim_time_s, results[label]["objective"])
        if key < (best_metrics.sim_time_s, results[best_name]["objective"]):
            best_name, best_metrics = label, metrics
    assert best_name is not None and best_metrics is not None
    info = {"winner": best_name, "candidates": results, "skipped": skipped}
    info["objective"] = results[best_name]["objective"]
    mapping = candidates[best_name][:n].astype(np.int64)
    return Plan("best", mapping, best_metrics, time.perf_counter() - started, fabric, matrix, info)


def remap(plan: Plan, fabric: Fabric, traffic: object | None = None, *, seed: int = 0) -> Plan:
    """Plan again on a changed fabric (a link down or slow) or for changed traffic.

    Starts from ``plan``'s mapping (by GPU id, so it must exist in ``fabric``) and keeps the
    best of that refined by local search and a fresh ``best``; ``info["moved"]`` counts the
    ranks that change GPU.
    """
    matrix = plan.traffic if traffic is None else check_traffic(traffic)
    old = [fabric.gpu_index.get(g) for g in plan.gpus]
    if None in old:
        raise InvalidTraffic(
            "plan: its GPUs are not all in the new fabric; map afresh with map_ranks."
        )
    new = map_ranks(fabric, matrix, "best", seed=seed, initial=old)
    new.info["moved"] = int(np.sum(new.mapping != np.array(old)))
    return new
