"""``auto``: pick or race solvers by size, density and time budget, then polish.

- Up to ``exact_limit`` variables (default 20) it enumerates and proves the optimum.
- Above that it races members in separate processes, one per core (``workers``). A member
  is simulated annealing calibrated to fill the budget, on a schedule whose hot end suits
  typical flips; discrete simulated bifurcation, likewise calibrated; or tabu search.
  Penalty-built models race tabu against SA (annealing gets stuck on one-hot colourings that
  tabu solves); dense models without linear terms race SA against SB (no auxiliary spin is
  needed there); everything else races independent SA runs (on sparse G-set, SB alone ends
  within a few cuts of SA: docs/benchmarks.md). See ``choose_members``.
- The best samples of every member get a steepest-descent pass, and the lowest energy wins.

``SampleSet.info`` says which member won, each member's best energy and time, and the
improvement trace ``[[seconds, energy, member], ...]`` for time-to-target curves (lists, so
the SampleSet round-trips through ``to_serializable``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, ClassVar

import dimod
import numpy as np
from dwave.samplers import SimulatedAnnealingSampler, TabuSampler
from dwave.samplers import SteepestDescentSolver as DwaveSteepestDescent

from qcore.errors import InvalidProblem
from qcore.solvers.base import (
    QcoreSampler,
    check_bool,
    check_nonnegative_int,
    check_positive_int,
    make_rng,
)
from qcore.solvers.bifurcation import SimulatedBifurcationSolver
from qcore.solvers.classical import dwave_seed
from qcore.solvers.exact import ExactSolver
from qcore.validation import ising_arrays

EXACT_LIMIT = 20
MEMBERS = ("sa", "sb", "tabu")
SB_DENSITY = 0.3  # SB joins the race on pure-Ising models at least this dense
PENALTY_SPREAD = 8.0  # max |bias| / median |bias| above which a model looks penalty-built


def coefficient_spread(bqm: dimod.BinaryQuadraticModel) -> float:
    _, (_, _, quadratic), _ = bqm.to_numpy_vectors()
    values = np.abs(np.asarray(quadratic, dtype=float))
    values = values[values > 0]
    return float(values.max() / np.median(values)) if values.size else 1.0


def choose_members(bqm: dimod.BinaryQuadraticModel, workers: int) -> tuple[str, ...]:
    """Members to race, by structure. Penalty-built models (one-hot and capacity terms much
    larger than the objective) trap annealing in feasible-but-poor states, and tabu search
    moves through them better; dense pure-Ising models suit SB; SA covers the rest."""
    n = bqm.num_variables
    density = 2 * bqm.num_interactions / max(1, n * (n - 1))
    if coefficient_spread(bqm) >= PENALTY_SPREAD:
        first = ("tabu", "sa")
    elif density >= SB_DENSITY and not any(bqm.spin.linear.values()):
        first = ("sa", "sb")
    else:
        first = ("sa", "sa")
    return (first + ("sa",) * workers)[:workers]


def default_budget(bqm: dimod.BinaryQuadraticModel) -> float:
    """Seconds to spend when the caller gives no ``time_limit``: grows with the model size."""
    size = bqm.num_variables + bqm.num_interactions
    return float(min(10.0, 0.5 + size / 5000))


def _fill_budget(run, budget: float, first: int, cap: int, start: float):
    """Calibrate on growing runs until one takes >= 3% of the budget (so per-call overhead and
    timer noise are negligible), then spend what is left on runs as long as it allows."""
    results, length = [], first
    while True:
        t0 = time.perf_counter()
        result = run(length)
        took = time.perf_counter() - t0
        results.append((time.perf_counter() - start, result))
        if took >= 0.03 * budget or length >= cap:
            break
        length *= 4
    per_unit = took / length
    while True:
        left = budget - (time.perf_counter() - start)
        length = min(cap, int(0.85 * left / per_unit))
        if length < first:
            break
        t0 = time.perf_counter()
        results.append((None, run(length)))
        results[-1] = (time.perf_counter() - start, results[-1][1])
        per_unit = max(per_unit, (time.perf_counter() - t0) / length)
    return results


def typical_beta_range(bqm: dimod.BinaryQuadraticModel, seed: int = 0) -> list[float]:
    """Annealing range whose hot end accepts a *typical* uphill flip half the time.

    dwave-samplers' default hot end accepts the *largest* possible flip cost half the time; on
    G-set that is beta ~ 0.003, so about half of a geometric schedule is spent at effectively
    infinite temperature. Here the hot end is ln 2 / median |flip cost| over random states
    (the cold end stays dwave's). Measured in docs/benchmarks.md (auto vs sa rows).
    """
    from dwave.samplers.sa.sampler import _default_ising_beta_range

    spin = bqm.spin
    _, cold = _default_ising_beta_range(spin.linear, spin.quadratic)
    arrays = ising_arrays(bqm)
    rng = np.random.default_rng(seed)
    states = rng.choice([-1.0, 1.0], size=(8, arrays.num_variables))
    costs = np.abs(2 * states * (states @ arrays.J + arrays.h)).ravel()
    costs = costs[costs > 1e-12]
    if costs.size == 0:
        return [0.1, float(cold)]
    hot = float(np.log(2) / np.median(costs))
    return [min(hot, float(cold) / 10), float(cold)]


def _run_sa(
    bqm: dimod.BinaryQuadraticModel, budget: float, seed: int, beta_range: list | None = None
) -> dict[str, Any]:
    """Simulated annealing: one anneal as long as the budget allows, restarted if time is
    left. ``beta_range=None`` keeps dwave-samplers' default schedule (the benchmark's
    baseline)."""
    start = time.perf_counter()
    sampler = SimulatedAnnealingSampler()
    seeds = iter(range(seed, seed + 10**6))

    def run(sweeps: int) -> dimod.SampleSet:
        return sampler.sample(
            bqm, num_reads=1, num_sweeps=sweeps, seed=next(seeds) % 2**31, beta_range=beta_range
        )

    runs = _fill_budget(run, budget, 100, 10_000_000, start)
    return _collect(runs, {"anneals": len(runs)})


def _run_sb(bqm: dimod.BinaryQuadraticModel, budget: float, seed: int) -> dict[str, Any]:
    """Discrete simulated bifurcation (the variant that did best on G-set here), with a step
    count calibrated to the budget, restarted with fresh seeds if time is left."""
    start = time.perf_counter()
    solver = SimulatedBifurcationSolver()
    rng = np.random.default_rng(seed)

    def run(steps: int) -> dimod.SampleSet:
        return solver.sample(
            bqm,
            variant="discrete",
            agents=32,
            max_steps=steps,
            num_reads=4,
            seed=int(rng.integers(2**31 - 1)),
            time_limit=max(budget - (time.perf_counter() - start), 1e-3),  # hard stop
        )

    runs = _fill_budget(run, budget, 100, 20_000, start)
    return _collect(runs, {"runs": len(runs)})


def _collect(runs: list, detail: dict[str, Any]) -> dict[str, Any]:
    trace, best = [], np.inf
    for t, ss in runs:
        if ss.first.energy < best:
            best = float(ss.first.energy)
            trace.append((t, best))
    merged = dimod.concatenate([ss for _, ss in runs]).aggregate()
    return {"sampleset": merged.truncate(min(8, len(merged))), "trace": trace, "detail": detail}


def _run_tabu(bqm: dimod.BinaryQuadraticModel, budget: float, seed: int) -> dict[str, Any]:
    """dwave-samplers MST2 tabu search with the budget as its timeout."""
    start = time.perf_counter()
    ss = TabuSampler().sample(bqm, num_reads=1, timeout=max(1, int(1000 * budget)), seed=seed)
    return _collect([(time.perf_counter() - start, ss)], {})


def _run_sa_typical(bqm: dimod.BinaryQuadraticModel, budget: float, seed: int):
    return _run_sa(bqm, budget, seed, beta_range=typical_beta_range(bqm, seed))


# auto's "sa" member anneals on the typical-flip schedule; the plain dwave schedule stays
# available to the benchmark as its baseline
RUNNERS = {"sa": _run_sa_typical, "sb": _run_sb, "tabu": _run_tabu}


def _run_member(name: str, bqm: dimod.BinaryQuadraticModel, budget: float, seed: int):
    started = time.perf_counter()
    result = RUNNERS[name](bqm, budget, seed)
    result["wall_s"] = time.perf_counter() - started
    return result


def polish(sampleset: dimod.SampleSet, bqm: dimod.BinaryQuadraticModel, seed: int):
    """Steepest descent from each sample: every returned state is a 1-flip local minimum."""
    return DwaveSteepestDescent().sample(bqm, initial_states=sampleset, seed=seed)


class AutoSolver(QcoreSampler):
    """Portfolio: exact when small, otherwise SA and SB raced across cores, then polished."""

    name: ClassVar[str] = "auto"
    solver_parameters: ClassVar[dict[str, list]] = {
        "workers": [],
        "exact_limit": [],
        "members": [],
        "progress": [],
    }

    def _check(self, params: dict) -> dict:
        if params.get("workers") is not None:
            params["workers"] = check_positive_int("workers", params["workers"], maximum=256)
        if "exact_limit" in params:
            params["exact_limit"] = check_nonnegative_int(
                "exact_limit", params["exact_limit"], maximum=26
            )
        if params.get("members") is not None:
            members = params["members"]
            if isinstance(members, str) or not isinstance(members, list | tuple):
                raise InvalidProblem(f"members: {members!r}; pass a tuple of names from {MEMBERS}.")
            unknown = [m for m in members if not isinstance(m, str) or m not in RUNNERS]
            if not members or unknown:
                raise InvalidProblem(
                    f"members: {unknown or list(members)!r}; choose from {MEMBERS}."
                )
            params["members"] = tuple(members)
        if "progress" in params:
            params["progress"] = check_bool("progress", params["progress"])
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        workers: int | None = None,
        exact_limit: int = EXACT_LIMIT,
        members: tuple[str, ...] | None = None,
        progress: bool = False,
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        rng = make_rng(seed)
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        if members is None:
            members = choose_members(bqm, workers)
        budget = time_limit if time_limit is not None else default_budget(bqm)
        started = time.perf_counter()

        if bqm.num_variables <= exact_limit:
            ss = ExactSolver().sample(bqm)
            ss.info.update(
                {
                    "winner": "exact",
                    "budget_s": budget,
                    "trace": [[time.perf_counter() - started, float(ss.first.energy), "exact"]],
                }
            )
            return ss

        def say(text: str) -> None:
            if progress:
                print(f"[auto] {text}", file=sys.stderr, flush=True)

        say(
            f"{bqm.num_variables} variables, {bqm.num_interactions} interactions; "
            f"racing {', '.join(members)} for {budget:.1f} s on {workers} worker(s)"
        )
        seeds = [dwave_seed(rng) for _ in members]
        # leave room for process start-up and the polish; members beyond the worker count
        # wait for a free worker, so each gets a proportionally smaller slice
        member_budget = 0.92 * budget * min(1.0, workers / len(members))
        if workers == 1 or len(members) == 1:
            results = [
                _run_member(m, bqm, 0.92 * budget / len(members), s)
                for m, s in zip(members, seeds, strict=True)
            ]
        else:
            context = mp.get_context("fork")
            with ProcessPoolExecutor(
                max_workers=min(workers, len(members)), mp_context=context
            ) as pool:
                futures = [
                    pool.submit(_run_member, m, bqm, member_budget, s)
                    for m, s in zip(members, seeds, strict=True)
                ]
                results = [f.result() for f in futures]

        report, trace, polished = {}, [], []
        labels = [f"{m}#{i}" if members.count(m) > 1 else m for i, m in enumerate(members)]
        for name, result in zip(labels, results, strict=True):
            ss = polish(result["sampleset"], bqm, seed=dwave_seed(rng))
            polished.append((name, ss))
            report[name] = {
                "energy": float(ss.first.energy),
                "before_polish": float(result["sampleset"].first.energy),
                "wall_s": result["wall_s"],
                **result["detail"],
            }
            trace += [(float(t), float(e), name) for t, e in result["trace"]]
            say(
                f"{name}: energy {ss.first.energy:.6g} "
                f"(before polish {result['sampleset'].first.energy:.6g}) "
                f"in {result['wall_s']:.1f} s"
            )
        winner, _ = min(polished, key=lambda item: item[1].first.energy)
        merged = dimod.concatenate([ss for _, ss in polished]).aggregate()
        merged = merged.truncate(min(len(merged), 16))
        trace.sort()
        best_trace, best = [], np.inf
        for t, e, name in trace:
            if e < best:
                best = e
                best_trace.append([t, e, name])
        best_trace.append([time.perf_counter() - started, float(merged.first.energy), winner])
        merged.info.update(
            {
                "winner": winner,
                "members": report,
                "budget_s": budget,
                "trace": best_trace,
                "workers": workers,
            }
        )
        return merged
