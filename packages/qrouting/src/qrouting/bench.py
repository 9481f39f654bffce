"""Side-by-side router benchmark: one instance, every router, one run, one table."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

import numpy as np

from qrouting.exact import solve_transport_lp
from qrouting.problem import RoutingProblem
from qrouting.routers import get_router

DEFAULT_ROUTERS = ("topk", "sinkhorn", "balanced", "expert_choice", "bias", "hash")


def run_benchmark(
    tokens: int = 65_536,
    experts: int = 64,
    k: int = 2,
    capacity_factor: float = 1.0,
    routers: tuple[str, ...] | list[str] = DEFAULT_ROUTERS,
    repeats: int = 3,
    seed: int = 0,
    exact: bool = True,
    router_options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Route one Gaussian-logit batch with each router; time it (median of ``repeats``) and
    compare every plan with the exact optimum (HiGHS LP with column generation) when
    ``exact``. Returns a JSON-ready dict."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((tokens, experts))
    start = time.perf_counter()
    problem = RoutingProblem.from_scores(logits, k, capacity_factor)
    prepare_s = time.perf_counter() - start
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    result: dict[str, Any] = {
        "config": {
            "tokens": tokens,
            "experts": experts,
            "k": k,
            "capacity_factor": capacity_factor,
            "capacity": problem.capacity,
            "seed": seed,
            "repeats": repeats,
            "logits": "standard normal",
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
        },
        "prepare_s": prepare_s,
        "routers": {},
    }
    optimum = None
    if exact:
        start = time.perf_counter()
        if problem.overflow:
            lp = solve_transport_lp(problem.value.T, problem.capacity, k)
        else:
            lp = solve_transport_lp(problem.value, k, problem.capacity, candidates=8)
        optimum = lp.objective
        result["exact"] = {
            "objective": optimum,
            "wall_s": time.perf_counter() - start,
            "method": "HiGHS LP (scipy.optimize.linprog), column generation",
            "lp_solves": lp.iterations,
        }
    options = router_options or {}
    for name in routers:
        times = []
        plan = None
        for _ in range(repeats):
            router = get_router(name, **options.get(name, {}))  # fresh state each repeat
            t0 = time.perf_counter()
            plan = router.route(problem)
            times.append(time.perf_counter() - t0)
        assert plan is not None
        wall = statistics.median(times)
        m = plan.metrics
        row = {
            "wall_s": wall,
            "wall_s_all": times,
            "tokens_per_s": tokens / wall,
            "max_vio": m["max_vio"],
            "drop_fraction": m["drop_fraction"],
            "tokens_dropped": m["tokens_dropped"],
            "affinity_retained": m["affinity_retained"],
            "objective": m["objective"],
        }
        if "certified_gap" in m:
            row["certified_gap"] = m["certified_gap"]
        if optimum is not None:
            row["gap_to_optimum"] = (optimum - m["objective"]) / abs(optimum)
        result["routers"][name] = row
    result["machine"]["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return result


def format_table(result: dict[str, Any]) -> str:
    cfg = result["config"]
    lines = [
        f"T={cfg['tokens']} E={cfg['experts']} k={cfg['k']} cf={cfg['capacity_factor']} "
        f"C={cfg['capacity']} (median of {cfg['repeats']})",
    ]
    if "exact" in result:
        ex = result["exact"]
        lines.append(f"exact optimum {ex['objective']:.6f} (HiGHS LP, {ex['wall_s']:.1f} s)")
    header = (
        f"{'router':<14}{'time s':>9}{'tokens/s':>12}{'MaxVio':>9}{'drop':>9}"
        f"{'aff.ret':>9}{'gap/opt':>11}{'cert.gap':>11}"
    )
    lines += [header, "-" * len(header)]
    for name, r in result["routers"].items():
        gap = f"{r['gap_to_optimum']:.2e}" if "gap_to_optimum" in r else "-"
        cert = f"{r['certified_gap']:.2e}" if "certified_gap" in r else "-"
        lines.append(
            f"{name:<14}{r['wall_s']:>9.3f}{r['tokens_per_s']:>12.3g}{r['max_vio']:>9.4f}"
            f"{r['drop_fraction']:>9.4f}{r['affinity_retained']:>9.4f}{gap:>11}{cert:>11}"
        )
    return "\n".join(lines)
