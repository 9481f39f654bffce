"""``auto``: pick members by structure, race them across cores by work count, then polish.

- Up to ``exact_limit`` variables (default 20) it enumerates and proves the optimum.
- Above that it races two members in separate processes, one per core (``workers``), chosen
  by ``choose_members``: penalty-built models race tabu against SA (annealing gets stuck on
  one-hot colourings that tabu solves); dense models (>= 5% of pairs coupled) race tabu
  against parallel tempering (tabu solves planted Wishart glasses, PT carries dense G-set
  graphs such as G1); sparse models race SA against PT (PT beat SA on G14 and G22).
- The budget is split by work counts at nominal rates (``RATES``), not by the clock, so a seed
  and a budget give the same answer run to run; a member inside ``auto`` is the same run as
  that member alone (``member_seed``), so with one core per member ``auto`` never ends worse
  than any member alone. The clock is only a guard (``SAFETY``); ``cut_by_clock`` reports it.
- The best samples of every member get a steepest-descent pass, and the lowest energy wins.

``SampleSet.info`` says which member won, each member's best energy, time and work counters,
and the improvement traces ``[[seconds, energy, member], ...]`` in wall seconds (``trace``)
and in CPU seconds of the member (``cpu_trace``), for time-to-target curves (lists, so the
SampleSet round-trips through ``to_serializable``). The time-calibrated runners ``_run_sa``
and ``_run_sb`` stay for ``qcore bench``'s baselines. Measured in docs/benchmarks.md.
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
    Deadline,
    QcoreSampler,
    check_bool,
    check_nonnegative_int,
    check_positive_int,
    check_real,
    make_rng,
)
from qcore.solvers.bifurcation import SimulatedBifurcationSolver
from qcore.solvers.classical import dwave_seed
from qcore.solvers.exact import ExactSolver
from qcore.solvers.parallel_tempering import (
    default_replicas,
    parallel_tempering,
    pt_beta_range,
    warm_kernels,
)
from qcore.validation import ising_arrays, spins_to_vartype

EXACT_LIMIT = 20
MEMBERS = ("sa", "sb", "tabu", "pt")
DENSE = 0.05  # models at least this dense (pairs coupled) race tabu and PT
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
    elif density >= DENSE:
        first = ("tabu", "pt")
    else:
        first = ("sa", "pt")
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


# --------------------------------------------------------------------------- work-count members
#
# auto splits its budget by work, not by wall clock: each member gets a count (sweeps, tabu
# stages, SB steps) worth its share of the budget at the nominal rates below, so a seed and a
# budget give the same answer run to run, whatever else runs on the machine. The rates are
# seconds per unit of work measured on the reference machine (a 2-core x86_64 VM, shared;
# ``uv run python tools/bench_auto_portfolio.py --rates`` re-measures them); ``work_scale``
# multiplies every count (faster machine: raise it to fill the budget). The one part that
# depends on the clock is a guard: a member still running at SAFETY x its share +
# GUARD_EXTRA_S, on a machine far slower than nominal, is stopped there, and
# ``info["members"][m]["cut_by_clock"]`` says so; only then can the answer differ run to run.

RATES = {  # seconds per unit of work, two terms each; see unit_seconds
    "sa": (1.16e-8, 5.9e-12),  # dwave SA, per sweep: per variable, per coupling end
    "pt": (1.64e-8, 9.75e-11),  # our PT, per replica-sweep: per variable, per coupling end
    "tabu": (4.0e-9, 1.4e-17),  # dwave MST2, per variable update: a constant, n^3 (cache)
    "sb": (4.8e-10, 5.8e-9),  # our SB (numpy), per step and agent: (n + 2m) sparse, n^2 dense
}
SAFETY = 10.0
GUARD_EXTRA_S = 10.0  # plus this: process start-up, numba cache loads, a loaded machine
SB_AGENTS = 32
SB_RUN_STEPS = 5_000  # steps of one SB run at most (its pressure ramp); then a fresh start


def unit_seconds(name: str, bqm: dimod.BinaryQuadraticModel) -> float:
    """Nominal seconds per unit of ``name``'s work on ``bqm`` (SA sweep, PT sweep of all
    replicas, tabu variable update, SB step of all agents); a fit
    to CPU times on bqp250-1, G1, G14, G55 and a 160-spin Wishart model (least squares on
    relative error): SA within 0.7-1.35x, PT 0.8-1.2x, tabu 0.85-1.7x (G55 excluded: tabu is
    no member there), SB 0.7-1.3x."""
    n, m = bqm.num_variables, bqm.num_interactions
    a, b = RATES[name]
    if name == "sa":
        return a * n + b * 2 * m
    if name == "pt":
        return default_replicas(n) * (a * n + b * 2 * m)
    if name == "tabu":
        return a + b * n**3
    dense = 2 * m / max(1, n * n) > 0.1
    return SB_AGENTS * (b * n * n if dense else a * (n + 2 * m))


def work_units(name: str, bqm: dimod.BinaryQuadraticModel, seconds: float) -> int:
    """The work count worth ``seconds`` of ``name`` on ``bqm`` at the nominal rate (>= 1)."""
    return max(1, int(seconds / unit_seconds(name, bqm)))


def _growing(total: int, first: int, cap: int) -> list[int]:
    """Run lengths summing to ``total``: ``first``, 4x, 16x, ... until a run is >= 3% of the
    total, then the rest in runs of at most ``cap`` (a short run answers early, long ones find
    more). Deterministic: it depends on the counts only."""
    lengths, done, length = [], 0, first
    while done + length <= total and length < 0.03 * total and length < cap:
        lengths.append(length)
        done += length
        length *= 4
    while total - done >= first:
        length = min(cap, total - done)
        lengths.append(length)
        done += length
    return lengths or [max(1, total)]


class _Guard(Deadline):
    """The safety stop at ``SAFETY`` x the share (+1 s), and the member's clocks: wall and
    CPU seconds (CPU time is what time-to-target curves use on a loaded machine)."""

    def __init__(self, share: float) -> None:
        super().__init__(SAFETY * share + GUARD_EXTRA_S)
        self.cpu_start = time.process_time()

    def stamp(self) -> tuple[float, float]:
        return self.elapsed(), time.process_time() - self.cpu_start


def _guard(share: float) -> _Guard:
    return _Guard(share)


def _collect_work(runs: list, detail: dict[str, Any]) -> dict[str, Any]:
    out = _collect([(stamp[0], ss) for stamp, ss in runs], detail)
    cpu, best = [], np.inf
    for (_, seconds), ss in runs:
        if ss.first.energy < best:
            best = float(ss.first.energy)
            cpu.append((seconds, best))
    out["cpu_trace"] = cpu
    return out


def work_sa(bqm, share: float, seed: int, scale: float = 1.0) -> dict[str, Any]:
    """dwave SA on the typical-flip schedule, anneal lengths from ``_growing``."""
    guard, sampler = _guard(share), SimulatedAnnealingSampler()
    total = max(100, int(scale * work_units("sa", bqm, share)))
    rng = np.random.default_rng(seed)
    beta_range = typical_beta_range(bqm, seed)
    runs, cut = [], False
    for sweeps in _growing(total, 100, 10_000_000):
        if runs and guard.expired():
            cut = True
            break
        ss = sampler.sample(
            bqm, num_reads=1, num_sweeps=sweeps, seed=dwave_seed(rng), beta_range=beta_range
        )
        runs.append((guard.stamp(), ss))
    return _collect_work(runs, {"sweeps": total, "anneals": len(runs), "cut_by_clock": cut})


def tabu_stage(bqm: dimod.BinaryQuadraticModel, total_updates: int) -> int:
    """Variable updates per tabu stage: dwave's own (``max(10^4 n, 5 10^5)``, 2.5 10^4 n above
    500 variables) when the budget holds at least four such stages, else a quarter of the
    budget (at least ``10 n``): short budgets get several short searches, long ones keep
    dwave's stage length."""
    n = bqm.num_variables
    default = max((10_000 if n <= 500 else 25_000) * n, 500_000)
    return int(max(10 * n, min(default, total_updates // 4)))


def work_tabu(bqm, share: float, seed: int, scale: float = 1.0) -> dict[str, Any]:
    """dwave-samplers MST2 tabu, counted in variable updates: stages of ``tabu_stage``
    updates, as independent multistart reads with 1, 2, 4, ... restarts (an early answer,
    then long searches that keep their elite pool); the clock is only the guard."""
    guard, sampler = _guard(share), TabuSampler()
    n = bqm.num_variables
    updates = max(1, int(scale * work_units("tabu", bqm, share)))
    z = tabu_stage(bqm, updates)
    total = max(1, updates // z)
    rng = np.random.default_rng(seed)
    runs, done, stages, cut = [], 0, 1, False
    tenure = min(20, max(1, n // 4)) if n > 1 else 0
    while done < total:
        if runs and guard.expired():
            cut = True
            break
        stages = min(stages, total - done)
        ss = sampler.sample(
            bqm,
            num_reads=1,
            seed=dwave_seed(rng),
            num_restarts=stages - 1,
            timeout=max(1, int(1000 * guard.remaining())),
            lower_bound_z=z,
            coefficient_z_first=1,
            coefficient_z_restart=1,
            tenure=tenure,
        )
        runs.append((guard.stamp(), ss))
        done += stages
        stages *= 2
    detail = {"stages": done, "stage_updates": z, "reads": len(runs), "cut_by_clock": cut}
    return _collect_work(runs, detail)


def work_pt(bqm, share: float, seed: int, scale: float = 1.0) -> dict[str, Any]:
    """qcore's parallel tempering, ``default_replicas(n)`` temperatures, a sweep count."""
    guard = _guard(share)
    sweeps = max(10, int(scale * work_units("pt", bqm, share)))
    arrays = ising_arrays(bqm)
    out = parallel_tempering(
        arrays,
        num_sweeps=sweeps,
        replicas=default_replicas(arrays.num_variables),
        sweeps_per_swap=1,
        beta_range=pt_beta_range(arrays, seed),
        seed=seed,
        deadline=guard,
    )
    spins = np.vstack([out["best_state"][None, :], out["states"][:7]])
    samples = spins_to_vartype(spins, bqm.vartype)
    ss = dimod.SampleSet.from_samples_bqm((samples, arrays.variables), bqm)
    cut = out["sweeps"] < sweeps
    return {
        "sampleset": ss,
        "trace": out["trace"],
        "cpu_trace": out["cpu_trace"],
        "detail": {"sweeps": out["sweeps"], "replicas": len(out["betas"]), "cut_by_clock": cut},
    }


def work_sb(bqm, share: float, seed: int, scale: float = 1.0) -> dict[str, Any]:
    """Discrete SB, restarted with fresh seeds until its step count is spent: its early stop
    (the agents' signs stable) ends one run, never the member's share."""
    guard, solver = _guard(share), SimulatedBifurcationSolver()
    total = max(100, int(scale * work_units("sb", bqm, share)))
    rng = np.random.default_rng(seed)
    runs, left, cut, early = [], total, False, 0
    while left >= 100 or not runs:
        if runs and guard.expired():
            cut = True
            break
        ss = solver.sample(
            bqm,
            variant="discrete",
            agents=SB_AGENTS,
            max_steps=max(100, min(SB_RUN_STEPS, left)),
            num_reads=4,
            seed=int(rng.integers(2**31 - 1)),
        )
        runs.append((guard.stamp(), ss))
        left -= ss.info["steps"]
        early += bool(ss.info["stopped_early"])
    detail = {"steps": total - left, "runs": len(runs), "restarts_after_early_stop": early}
    return _collect_work(runs, {**detail, "cut_by_clock": cut})


WORK_RUNNERS = {"sa": work_sa, "sb": work_sb, "tabu": work_tabu, "pt": work_pt}


def _improvements(trace: list) -> list[list]:
    """``[seconds, energy, member]`` rows where the best energy so far improves."""
    out, best = [], np.inf
    for t, e, name in sorted(trace):
        if e < best:
            best = e
            out.append([t, e, name])
    return out


def member_seed(seed: int | None, name: str, occurrence: int) -> int:
    """The seed of the ``occurrence``-th ``name`` member: the same inside ``auto`` as alone
    (``members=(name,)``), so ``auto`` with one core per member can never end worse than
    any of its members alone with the same seed and budget."""
    if seed is None:
        return dwave_seed(np.random.default_rng())
    mixed = np.random.SeedSequence([seed, MEMBERS.index(name), occurrence])
    return int(mixed.generate_state(1)[0] % (2**31 - 1))


def run_member(
    name: str, bqm: dimod.BinaryQuadraticModel, share: float, seed: int, scale: float = 1.0
) -> dict[str, Any]:
    started = time.perf_counter()
    result = WORK_RUNNERS[name](bqm, share, seed, scale)
    result["wall_s"] = time.perf_counter() - started
    return result


def polish(sampleset: dimod.SampleSet, bqm: dimod.BinaryQuadraticModel, seed: int):
    """Steepest descent from each sample: every returned state is a 1-flip local minimum."""
    return DwaveSteepestDescent().sample(bqm, initial_states=sampleset, seed=seed)


class AutoSolver(QcoreSampler):
    """Portfolio: exact when small, otherwise members raced across cores, then polished."""

    name: ClassVar[str] = "auto"
    solver_parameters: ClassVar[dict[str, list]] = {
        "workers": [],
        "exact_limit": [],
        "members": [],
        "progress": [],
        "work_scale": [],
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
            unknown = [m for m in members if not isinstance(m, str) or m not in WORK_RUNNERS]
            if not members or unknown:
                raise InvalidProblem(
                    f"members: {unknown or list(members)!r}; choose from {MEMBERS}."
                )
            params["members"] = tuple(members)
        if "progress" in params:
            params["progress"] = check_bool("progress", params["progress"])
        if params.get("work_scale") is not None:
            params["work_scale"] = check_real(
                "work_scale", params["work_scale"], low=0, high=1e6, low_open=True,
                hint=" (1 = the reference machine's rates; 2 = twice the work per second)",
            )  # fmt: skip
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        workers: int | None = None,
        exact_limit: int = EXACT_LIMIT,
        members: tuple[str, ...] | None = None,
        progress: bool = False,
        work_scale: float | None = None,
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        rng = make_rng(seed)
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        if members is None:
            members = choose_members(bqm, workers)
        scale = 1.0 if work_scale is None else work_scale
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

        # one core per member gets the whole budget; with fewer cores than members, each
        # member gets the share of the budget its core time allows
        share = budget * min(1.0, workers / len(members))
        say(
            f"{bqm.num_variables} variables, {bqm.num_interactions} interactions; "
            f"racing {', '.join(members)} for {share:.1f} s of work each on {workers} worker(s)"
        )
        seeds = [member_seed(seed, m, members[:i].count(m)) for i, m in enumerate(members)]
        if "pt" in members:
            warm_kernels()  # once here, not once per forked worker
        if workers == 1 or len(members) == 1:
            results = [
                run_member(m, bqm, share, s, scale) for m, s in zip(members, seeds, strict=True)
            ]
        else:
            context = mp.get_context("fork")
            with ProcessPoolExecutor(
                max_workers=min(workers, len(members)), mp_context=context
            ) as pool:
                futures = [
                    pool.submit(run_member, m, bqm, share, s, scale)
                    for m, s in zip(members, seeds, strict=True)
                ]
                results = [f.result() for f in futures]

        report, trace, cpu_trace, polished = {}, [], [], []
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
            cpu_trace += [(float(t), float(e), name) for t, e in result["cpu_trace"]]
            say(
                f"{name}: energy {ss.first.energy:.6g} "
                f"(before polish {result['sampleset'].first.energy:.6g}) "
                f"in {result['wall_s']:.1f} s"
            )
        # lowest energy wins; ties go to the earlier member (deterministic)
        winner = min(range(len(polished)), key=lambda i: (polished[i][1].first.energy, i))
        merged = dimod.concatenate([ss for _, ss in polished]).aggregate()
        merged = merged.truncate(min(len(merged), 16))
        trace.sort()
        best_trace, best = [], np.inf
        for t, e, name in trace:
            if e < best:
                best = e
                best_trace.append([t, e, name])
        best_trace.append(
            [time.perf_counter() - started, float(merged.first.energy), polished[winner][0]]
        )
        merged.info.update(
            {
                "cpu_trace": _improvements(cpu_trace),
                "winner": polished[winner][0],
                "members": report,
                "budget_s": budget,
                "share_s": share,
                "work_scale": scale,
                "deterministic": seed is not None
                and not any(r.get("cut_by_clock") for r in report.values()),
                "trace": best_trace,
                "workers": workers,
            }
        )
        return merged
