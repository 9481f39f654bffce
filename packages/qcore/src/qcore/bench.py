"""``qcore bench``: our solvers beside the field's baselines, at the same wall-clock budget.

Suites (each reads the instance files from ``--data``, default ``../shared/data``):

- ``gset``: Max-Cut on G-set. Solvers: ``auto`` (qcore portfolio), ``sb`` (qcore's discrete
  simulated bifurcation alone, one process, run length calibrated), ``sa`` (dwave-samplers
  simulated annealing, single process, its anneal length calibrated to fill the budget: the
  strongest way to spend a budget on it), ``tabu`` (dwave-samplers MST2 tabu with the budget as
  its timeout) and ``sb-pypi`` (the ``simulated-bifurcation`` package, discrete SB, with the
  budget as its timeout). Values are cuts; the gap is to the best-known cut.
- ``beasley``: OR-Library bqp instances (maximise x'Qx); ``auto`` and ``sa``.
- ``exact``: time for ``exact`` to prove the optimum of random models of 16 to 24 variables.

Every run records an anytime trace (seconds, best value), from which the report derives the
time to reach the target (within ``--target-gap`` of best-known) and the best value reached by
fixed times: the time-to-target curve. Results go to JSON (``--out``) and a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qcore.entrypoint import CliParser, entry_point
from qcore.errors import InvalidProblem, SolverUnavailable
from qcore.io import read_beasley, read_gset
from qcore.solve import solve
from qcore.solvers.portfolio import _run_sa, _run_sb
from qcore.validation import ising_arrays

GSET_BEST = {
    "G1": 11624,
    "G2": 11620,
    "G3": 11622,
    "G11": 564,
    "G12": 556,
    "G14": 3064,
    "G15": 3050,
    "G22": 13359,
    "G43": 6660,
    "G55": 10299,
}
BQP_BEST = {
    "bqp250": [45607, 44810, 49037, 41274, 47961, 41014, 46757, 35726, 48916, 40442],
    "bqp500": [116586, 128339, 130812, 130097, 125487, 121772, 122201, 123559, 120798, 130619],
}
CHECKPOINTS = (1.0, 3.0, 10.0, 30.0)


@dataclass
class Run:
    suite: str
    instance: str
    solver: str
    seed: int
    budget_s: float
    value: float  # in the instance's own sense (cut, x'Qx), higher is better
    best_known: float
    wall_s: float
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, best value)

    @property
    def gap(self) -> float:
        return (self.best_known - self.value) / abs(self.best_known)

    def time_to(self, target: float) -> float | None:
        for seconds, value in self.trace:
            if value >= target - 1e-9:
                return seconds
        return None


def _energy_trace(trace: list, to_value: Callable[[float], float]) -> list[tuple[float, float]]:
    out, best = [], -np.inf
    for item in trace:
        seconds, energy = float(item[0]), float(item[1])
        value = to_value(energy)
        if value > best:
            best = value
            out.append((seconds, value))
    return out


def run_auto(bqm, budget, seed, to_value):
    result = solve(bqm, "auto", time_limit=budget, seed=seed)
    return (
        to_value(result.energy),
        result.wall_s,
        _energy_trace(result.sampleset.info["trace"], to_value),
    )


def _calibrated(member):
    """A benchmark runner around one of auto's members (SA or SB with calibrated length)."""

    def run(bqm, budget, seed, to_value):
        start = time.perf_counter()
        out = member(bqm, budget, seed)
        energy = out["sampleset"].first.energy
        wall = time.perf_counter() - start
        return to_value(energy), wall, _energy_trace(out["trace"], to_value)

    return run


run_sa = _calibrated(_run_sa)  # dwave's default schedule: the baseline as shipped
run_sb = _calibrated(_run_sb)


def run_tabu(bqm, budget, seed, to_value):
    from dwave.samplers import TabuSampler

    start = time.perf_counter()
    ss = TabuSampler().sample(bqm, num_reads=1, timeout=int(budget * 1000), seed=seed)
    wall = time.perf_counter() - start
    value = to_value(ss.first.energy)
    return value, wall, [(wall, value)]


def run_sb_pypi(bqm, budget, seed, to_value):
    import simulated_bifurcation as sbp
    import torch

    arrays = ising_arrays(bqm)
    matrix = torch.tensor(0.5 * arrays.J.toarray(), dtype=torch.float32)
    vector = torch.tensor(arrays.h, dtype=torch.float32)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its ConvergenceWarning when stopped by the timeout
        # the package's defaults (128 agents, 10,000 steps, early stopping) in discrete mode,
        # with the budget as its timeout
        spins, _ = sbp.minimize(
            matrix, vector, domain="spin", mode="discrete", verbose=False, timeout=budget
        )
    wall = time.perf_counter() - start
    energy = float(arrays.energies(spins.numpy()[None, :])[0])
    value = to_value(energy)
    return value, wall, [(wall, value)]


RUNNERS = {
    "auto": run_auto,
    "sa": run_sa,
    "sb": run_sb,
    "tabu": run_tabu,
    "sb-pypi": run_sb_pypi,
}


def bench_gset(data: Path, instances, solvers, budget, seeds, log) -> list[Run]:
    runs = []
    for name in instances:
        inst = read_gset(data / "gset" / f"{name}.txt")
        for solver in solvers:
            for seed in range(seeds):
                value, wall, trace = RUNNERS[solver](inst.bqm, budget, seed, inst.cut_from_energy)
                run = Run("gset", name, solver, seed, budget, value, GSET_BEST[name], wall, trace)
                runs.append(run)
                log(
                    f"gset {name} {solver:8s} seed {seed}: cut {value:.0f} "
                    f"(gap {100 * run.gap:.3f}%) in {wall:.1f} s"
                )
    return runs


def bench_beasley(data: Path, sets, solvers, budget, seeds, log) -> list[Run]:
    runs = []
    for set_name in sets:
        instances = read_beasley(data / "bqp" / f"{set_name}.txt")
        if len(instances) > len(BQP_BEST[set_name]):
            raise InvalidProblem(
                f"--bqp {set_name}: the file holds {len(instances)} instances but best-known "
                f"values exist for {len(BQP_BEST[set_name])}; check the file."
            )
        for inst in instances:
            best = BQP_BEST[set_name][inst.index - 1]
            for solver in solvers:
                for seed in range(seeds):
                    value, wall, trace = RUNNERS[solver](inst.bqm, budget, seed, lambda e: -e)
                    run = Run("beasley", inst.name, solver, seed, budget, value, best, wall, trace)
                    runs.append(run)
                    log(
                        f"{inst.name} {solver:5s} seed {seed}: {value:.0f} "
                        f"(gap {100 * run.gap:.4f}%) in {wall:.1f} s"
                    )
    return runs


def bench_exact(sizes, log) -> list[dict[str, Any]]:
    from qcore.testing import random_bqm

    rows = []
    for n in sizes:
        bqm = random_bqm(n, "SPIN", seed=n, density=0.5)
        result = solve(bqm, "exact")
        rows.append(
            {
                "n": n,
                "states": 2**n,
                "wall_s": result.wall_s,
                "proven_optimal": result.proven_optimal,
            }
        )
        log(f"exact n={n}: {result.wall_s:.2f} s, proven_optimal={result.proven_optimal}")
    return rows


def markdown(runs: list[Run], exact_rows, target_gap: float, command: str) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {_cores()} cores, Python {platform.python_version()}.",
        "",
    ]
    by_suite: dict[str, list[Run]] = {}
    for run in runs:
        by_suite.setdefault(run.suite, []).append(run)
    for suite, suite_runs in by_suite.items():
        budget = suite_runs[0].budget_s
        solvers = list(dict.fromkeys(r.solver for r in suite_runs))
        instances = list(dict.fromkeys(r.instance for r in suite_runs))
        lines += [
            f"### {suite}: median value over seeds at {budget:g} s",
            "",
            f"Each cell: median value (gap to best-known) · median time to within "
            f"{100 * target_gap:g}% of best-known (runs that got there) · median time to "
            "best-known (runs that got there).",
            "",
            "| instance | best-known | " + " | ".join(solvers) + " |",
            "|---|---|" + "---|" * len(solvers),
        ]
        for inst in instances:
            cells = []
            for solver in solvers:
                rs = [r for r in suite_runs if r.instance == inst and r.solver == solver]
                if not rs:
                    cells.append("-")
                    continue
                med = statistics.median(r.value for r in rs)
                best_known = rs[0].best_known
                near = _median_time(rs, best_known - abs(best_known) * target_gap)
                exact = _median_time(rs, best_known)
                gap = 100 * (best_known - med) / abs(best_known)
                cells.append(f"{med:.0f} ({gap:.3f}%) · {near} · {exact}")
            lines.append(f"| {inst} | {_best(suite_runs, inst):.0f} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Time-to-target curve ({suite}): best value reached by each time, "
            "median over seeds, from each run's anytime trace "
            "(a solver that only answers at the end shows its value at the end).",
            "",
            "| instance | solver | "
            + " | ".join(f"{t:g} s" for t in CHECKPOINTS if t <= budget)
            + " |",
            "|---|---|" + "---|" * len([t for t in CHECKPOINTS if t <= budget]),
        ]
        for inst in instances:
            for solver in solvers:
                rs = [r for r in suite_runs if r.instance == inst and r.solver == solver]
                if not rs:
                    continue
                cells = []
                for t in (t for t in CHECKPOINTS if t <= budget):
                    # the budget column is the final answer, however late it came
                    limit = t * 1.05 if t < budget else np.inf
                    vals = [max([v for s, v in r.trace if s <= limit] or [np.nan]) for r in rs]
                    med = float(np.median(vals))
                    cells.append("-" if np.isnan(med) else f"{med:.0f}")
                lines.append(f"| {inst} | {solver} | " + " | ".join(cells) + " |")
        lines.append("")
    if exact_rows:
        lines += [
            "### exact: time to prove the optimum",
            "",
            "| variables | states | seconds |",
            "|---|---|---|",
        ]
        lines += [f"| {r['n']} | {r['states']:,} | {r['wall_s']:.2f} |" for r in exact_rows]
    return "\n".join(lines) + "\n"


def _median_time(runs: list[Run], target: float) -> str:
    times = [t for t in (r.time_to(target) for r in runs) if t is not None]
    if not times:
        return f"never (0/{len(runs)})"
    return f"{statistics.median(times):.1f} s ({len(times)}/{len(runs)})"


def _best(runs, inst):
    return next(r.best_known for r in runs if r.instance == inst)


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _positive_seconds(option: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise InvalidProblem(f"{option} {value}: pass a positive number of seconds.")
    return value


def check_arguments(args: argparse.Namespace, suites: set[str]) -> None:
    """Every argument and every data file checked before the first (long) run starts."""
    _positive_seconds("--budget", args.budget)
    _positive_seconds("--beasley-budget", args.beasley_budget)
    if not 1 <= args.seeds <= 1000:
        raise InvalidProblem(f"--seeds {args.seeds}: pass a count from 1 to 1000.")
    if not (math.isfinite(args.target_gap) and 0 <= args.target_gap < 1):
        raise InvalidProblem(
            f"--target-gap {args.target_gap}: pass a fraction in [0, 1), e.g. 0.002 (0.2%)."
        )
    if args.out.is_dir():
        raise InvalidProblem(f"--out {args.out}: is a folder; name a .json file inside it.")
    parent = next((p for p in args.out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InvalidProblem(f"--out {args.out}: {parent} is a file, not a folder.")
    if suites & {"gset", "beasley"} and not args.data.is_dir():
        raise InvalidProblem(
            f"--data {args.data}: not a folder; point it at the folder holding gset/ and bqp/ "
            "(the repository's ../shared/data)."
        )
    wanted = []
    if "gset" in suites:
        wanted += [
            ("--gset", name, GSET_BEST, args.data / "gset" / f"{name}.txt") for name in args.gset
        ]
    if "beasley" in suites:
        wanted += [
            ("--bqp", name, BQP_BEST, args.data / "bqp" / f"{name}.txt") for name in args.bqp
        ]
    for option, name, known, path in wanted:
        if name not in known:
            raise InvalidProblem(
                f"{option} {name}: no best-known value for it; choose from {', '.join(known)}."
            )
        if not path.is_file():
            raise InvalidProblem(f"{option} {name}: {path} does not exist; check --data.")
    used = set(args.solvers if "gset" in suites else ())
    used |= set(args.beasley_solvers if "beasley" in suites else ())
    if "sb-pypi" in used:
        try:
            import simulated_bifurcation  # noqa: F401
            import torch  # noqa: F401
        except ImportError as exc:
            raise SolverUnavailable(
                f"--solvers sb-pypi needs the simulated-bifurcation package and torch ({exc}); "
                "install the workspace's dev dependencies (uv sync) or leave sb-pypi out."
            ) from None


def load_report(path: Path) -> tuple[list[Run], list[dict[str, Any]], str]:
    """A saved ``--out`` JSON, checked: (runs, exact rows, command)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidProblem(f"--report {path}: not a JSON file ({exc}).") from None
    try:
        runs = [Run(**{**r, "trace": [tuple(x) for x in r["trace"]]}) for r in saved["runs"]]
        exact, command = list(saved["exact"]), str(saved["command"])
        for run in runs:
            float(run.value), float(run.best_known), float(run.budget_s)
            for seconds, value in run.trace:
                float(seconds), float(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidProblem(
            f"--report {path}: not a result written by qcore bench --out ({type(exc).__name__}: "
            f"{exc})."
        ) from None
    return runs, exact, command


@entry_point("qcore bench")
def main(argv: list[str] | None = None) -> int:
    """``qcore bench``: bad arguments and missing data end in one line and exit code 2."""
    parser = CliParser(
        prog="qcore bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--suite", choices=["gset", "beasley", "exact", "all"], default="all")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data"),
        help="folder with gset/ and bqp/ (default ../shared/data)",
    )
    parser.add_argument("--gset", nargs="+", default=["G1", "G14", "G22", "G43", "G55"])
    parser.add_argument("--bqp", nargs="+", default=["bqp250", "bqp500"])
    parser.add_argument(
        "--solvers", nargs="+", default=["auto", "sa", "tabu", "sb-pypi"], choices=list(RUNNERS)
    )
    parser.add_argument(
        "--beasley-solvers", nargs="+", default=["auto", "sa"], choices=list(RUNNERS)
    )
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per G-set run")
    parser.add_argument("--beasley-budget", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--target-gap", type=float, default=0.002)
    parser.add_argument("--out", type=Path, default=Path("bench-results/qcore.json"))
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="JSON",
        help="re-render the Markdown report of a saved run; solves nothing",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        runs, exact, command = load_report(args.report)
        try:
            print(markdown(runs, exact, args.target_gap, command))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidProblem(
                f"--report {args.report}: a damaged result ({type(exc).__name__}: {exc})."
            ) from None
        return 0
    suites = {"gset", "beasley", "exact"} if args.suite == "all" else {args.suite}
    check_arguments(args, suites)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    runs: list[Run] = []
    exact_rows: list[dict[str, Any]] = []
    if "exact" in suites:
        exact_rows = bench_exact([16, 20, 22, 24], log)
    if "gset" in suites:
        runs += bench_gset(args.data, args.gset, args.solvers, args.budget, args.seeds, log)
    if "beasley" in suites:
        runs += bench_beasley(
            args.data, args.bqp, args.beasley_solvers, args.beasley_budget, args.seeds, log
        )
    command = "uv run qcore bench " + " ".join(argv if argv is not None else sys.argv[2:])
    report = markdown(runs, exact_rows, args.target_gap, command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"runs": [asdict(r) for r in runs], "exact": exact_rows, "command": command}, indent=1
        )
    )
    args.out.with_suffix(".md").write_text(report)
    print(report)
    return 0


__all__ = ["main"]
