"""The ``qcore`` command: solve a file, list solvers, run the benchmark, or a demo."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dimod
from dimod.variables import iter_serialize_variables

from qcore.entrypoint import CliParser, entry_point
from qcore.errors import InvalidProblem, QcoreError, SolverUnavailable
from qcore.io import read_beasley, read_bqm_json, read_gset
from qcore.registry import get_solver, list_solvers
from qcore.solve import check_solver_names, solve
from qcore.solvers.base import QcoreSampler, check_seed, check_time_limit

# arguments of qcore.solve itself: they have their own options, never --param
SOLVE_ARGUMENTS = {
    "bqm": "FILE",
    "solver": "--solver",
    "fallback": "--fallback",
    "time_limit": "--time-limit",
    "seed": "--seed",
}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0]:
            raise InvalidProblem(
                f"--param {pair!r}: write it as name=value, e.g. --param num_reads=20"
            )
        name, value = pair.split("=", 1)
        if name in SOLVE_ARGUMENTS:
            raise InvalidProblem(
                f"--param {pair!r}: {name} has its own option; use {SOLVE_ARGUMENTS[name]}."
            )
        if name in params:
            raise InvalidProblem(f"--param {pair!r}: {name} is given twice; give it once.")
        params[name] = _parse_value(value)
    return params


def check_output_path(path: Path, option: str) -> Path:
    """Refuse an output path that cannot be written before any work is done."""
    if path.is_dir():
        raise InvalidProblem(f"{option} {path}: is a folder; name a file inside it.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidProblem(
            f"{option} {path}: the folder {parent} does not exist; create it first."
        )
    return path


def solution_record(labels: list, values: list[int]) -> dict[str, Any]:
    """Labels in dimod's serialisable form (``1`` and ``"1"`` stay apart; tuples become
    lists, read back with ``dimod.variables.deserialize_variable``), values in that order."""
    return {"variable_labels": list(iter_serialize_variables(labels)), "sample": values}


def _detect_format(path: Path) -> str:
    if path.suffix == ".json":
        return "json"
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split()
    return "beasley" if len(first) == 1 else "gset"


def load_problem(
    path: Path, fmt: str, instance: int | None
) -> tuple[dimod.BinaryQuadraticModel, str, str, Callable[[float, Mapping[Any, int]], float]]:
    """Return (bqm, name, objective name, function energy/sample -> objective)."""
    if not path.is_file():
        raise InvalidProblem(f"FILE: {path} does not exist or is not a file.")
    fmt = _detect_format(path) if fmt == "auto" else fmt
    if instance is not None and fmt != "beasley":
        raise InvalidProblem(
            f"--instance {instance}: only Beasley files hold several instances; this one is "
            f"read as {fmt}. Drop --instance (or pass --format beasley)."
        )
    instance = 1 if instance is None else instance
    if fmt == "gset":
        inst = read_gset(path)
        return inst.bqm, inst.name, "cut", lambda energy, sample: inst.cut_from_energy(energy)
    if fmt == "beasley":
        instances = read_beasley(path)
        if not 1 <= instance <= len(instances):
            raise InvalidProblem(
                f"--instance {instance}: the file holds instances 1..{len(instances)}."
            )
        inst = instances[instance - 1]
        return inst.bqm, inst.name, "x'Qx", lambda energy, sample: inst.objective(sample)
    bqm = read_bqm_json(path)
    return bqm, path.stem, "energy", lambda energy, sample: energy


def check_solve_arguments(args: argparse.Namespace, params: dict[str, Any]) -> None:
    """Everything about the command line that can be checked before reading the file."""
    check_solver_names([args.solver, *args.fallback])
    if args.time_limit is not None:
        check_time_limit(args.time_limit)
    check_seed(args.seed)
    if args.output:
        check_output_path(Path(args.output), "--output")
    try:
        sampler = get_solver(args.solver)
    except SolverUnavailable:
        return  # solve() records why and moves on to the fallbacks
    if isinstance(sampler, QcoreSampler):
        sampler.check_values(params)


def cmd_solve(args: argparse.Namespace) -> int:
    params = _params(args.param)
    if args.solver == "auto" and "progress" not in params:
        params["progress"] = True
    check_solve_arguments(args, params)
    bqm, name, objective_name, objective = load_problem(args.file, args.format, args.instance)
    print(
        f"{name}: {bqm.num_variables} variables, {bqm.num_interactions} interactions "
        f"({bqm.vartype.name})",
        file=sys.stderr,
    )
    result = solve(
        bqm,
        solver=args.solver,
        fallback=tuple(args.fallback),
        time_limit=args.time_limit,
        seed=args.seed,
        **params,
    )
    sample = result.sample
    value = objective(result.energy, sample) if bqm.num_variables else result.energy
    for attempt in result.attempts:
        print(f"  {attempt.solver} failed first: {attempt.error_type}: {attempt.message}")
    print(f"{objective_name} = {value:.10g}   energy = {result.energy:.10g}")
    print(
        f"solver = {result.solver}   wall = {result.wall_s:.3f} s   "
        f"proven_optimal = {result.proven_optimal}"
    )
    if args.output:
        out = {
            "instance": name,
            objective_name: value,
            "energy": result.energy,
            "solver": result.solver,
            "wall_s": result.wall_s,
            "proven_optimal": result.proven_optimal,
            "attempts": [a.__dict__ for a in result.attempts],
            **solution_record(list(bqm.variables), [int(sample[v]) for v in bqm.variables]),
        }
        Path(args.output).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.output}")
    return 0


def cmd_solvers(args: argparse.Namespace) -> int:
    infos = list_solvers()
    width = max(len(i.name) for i in infos)
    for info in infos:
        status = "available" if info.available else f"unavailable: {info.reason}"
        print(f"{info.name:<{width}}  {status}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Max-Cut on a random 3-regular graph: every solver beside the proven optimum, then a
    constrained problem (graph colouring) decoded with its violations."""
    import networkx as nx

    from qcore.problems import graph_coloring, maxcut

    if not 4 <= args.nodes <= 10_000 or args.nodes % 2:
        raise InvalidProblem(
            f"--nodes {args.nodes}: a 3-regular graph needs an even number of nodes from 4 to "
            "10,000, e.g. --nodes 20."
        )
    if args.seed < 0:
        raise InvalidProblem(f"--seed {args.seed}: pass an integer >= 0.")
    graph = nx.random_regular_graph(3, args.nodes, seed=args.seed)
    for u, v in graph.edges:
        graph.edges[u, v]["weight"] = 1 + (u * 7 + v * 3) % 5  # deterministic weights 1..5
    problem = maxcut(graph)
    print(
        f"Max-Cut on a weighted 3-regular graph: {args.nodes} nodes, "
        f"{graph.number_of_edges()} edges"
    )
    rows = []
    for solver in ["exact", "sa", "tabu", "descent", "sb", "auto"]:
        start = time.perf_counter()
        try:
            result = solve(problem.bqm, solver=solver, seed=args.seed, time_limit=args.time_limit)
        except QcoreError as exc:
            print(f"  {solver:8s} skipped: {exc}")
            continue
        cut = problem.decode(result).solution.value
        rows.append((solver, cut, time.perf_counter() - start, result.proven_optimal))
    best = max(cut for _, cut, _, _ in rows)
    print(f"  {'solver':8s} {'cut':>8s} {'gap':>7s} {'seconds':>8s}  proven")
    for solver, cut, seconds, proven in rows:
        gap = 100 * (best - cut) / best if best else 0.0
        print(f"  {solver:8s} {cut:8.0f} {gap:6.2f}% {seconds:8.3f}  {proven}")

    colours = 3
    coloring = graph_coloring(graph, colours)
    result = solve(coloring.bqm, solver="auto", seed=args.seed, time_limit=args.time_limit)
    decoded = coloring.decode(result)
    print(
        f"\n{colours}-colouring of the same graph ({coloring.bqm.num_variables} binary variables, "
        f"penalty {coloring.penalty:g}): feasible={decoded.feasible}, "
        f"conflicting edges={len(decoded.solution.conflicts)}, "
        f"violated constraints={len(decoded.violations)}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="qcore",
        description="QUBO/Ising solvers behind one interface (dimod BQMs in, SampleSets out).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("solve", help="solve a G-set, Beasley or BQM-JSON file")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=["auto", "gset", "beasley", "json"], default="auto")
    p.add_argument(
        "--instance", type=int, default=None, help="which instance of a Beasley file (1)"
    )
    p.add_argument("--solver", default="auto")
    p.add_argument("--fallback", nargs="*", default=[], help="solvers to try if it fails")
    p.add_argument("--time-limit", type=float, default=None, help="seconds for the whole call")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="solver parameter (repeatable), e.g. --param num_reads=20",
    )
    p.add_argument("--output", "-o", default=None, help="write the result as JSON here")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("solvers", help="list solvers and whether each can run here")
    p.set_defaults(func=cmd_solvers)

    p = sub.add_parser("demo", help="every solver on a small Max-Cut, and a decoded colouring")
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--time-limit", type=float, default=2.0)
    p.set_defaults(func=cmd_demo)

    sub.add_parser(
        "bench",
        help="benchmark against dwave-samplers and simulated-bifurcation (see qcore bench --help)",
        add_help=False,
    )
    return parser


@entry_point("qcore")
def main(argv: list[str] | None = None) -> int:
    """``qcore`` (a console script): bad input ends in one line on stderr and exit code 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from qcore.bench import main as bench_main

        return bench_main(argv[1:])  # wrapped the same way, as ``qcore bench``
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
