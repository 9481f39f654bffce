"""Benchmark of qcore's gate-model (QAOA) and decomposition solvers.

Every QAOA figure is a classical statevector SIMULATION of the circuit (PennyLane
lightning.qubit or Qiskit Aer), never quantum hardware.

    uv run python tools/bench_quantum.py                  # all sections, markdown on stdout
    uv run python tools/bench_quantum.py --section ratio  # one section
    uv run python tools/bench_quantum.py --quick          # smaller sizes (CI smoke)
    uv run python tools/bench_quantum.py --json out.json  # raw rows as well

Sections:
  ratio   3-regular Max-Cut, n = 10..16: approximation ratio <C>/C_max vs p = 1..4 (the
          known fixed-angle worst cases are 0.6924, 0.7559, 0.7923, 0.8167), best-sample ratio,
          time per solve; PennyLane vs Aer time and expectation agreement at the same angles.
  gset    G-set-derived small graphs (BFS-induced subgraphs of G14 and G11): QAOA best
          sample vs `exact` and vs `auto` (or `sa` when `auto` is not importable).
  bqp     bqp250 (Beasley): `decompose` with `exact` and with `qaoa` sub-problems, with and
          without the outer tabu loop, beside `auto`; gap to best-known. Skipped when
          /work/shared/data is absent.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import deque
from pathlib import Path
from typing import Any

import dimod
import networkx as nx
import numpy as np
import qcore
from qcore.bench import BQP_BEST
from qcore.entrypoint import CliParser, entry_point
from qcore.errors import InvalidProblem
from qcore.io import read_beasley as read_beasley_instances
from qcore.solvers.hamiltonian import cost_hamiltonian
from qcore.solvers.qaoa import QAOASolver, make_backend
from qcore.solvers.qaoa_circuit import QAOACircuit

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BQP250_BEST = BQP_BEST["bqp250"]
FIXED_ANGLE_RATIO = {1: 0.6924, 2: 0.7559, 3: 0.7923, 4: 0.8167}


def maxcut_bqm(graph: nx.Graph) -> dimod.BinaryQuadraticModel:
    bqm = dimod.BinaryQuadraticModel("SPIN")
    bqm.add_variables_from((v, 0.0) for v in graph.nodes)
    for u, v, data in graph.edges(data=True):
        w = float(data.get("weight", 1.0))
        bqm.add_interaction(u, v, w / 2)
        bqm.offset -= w / 2
    return bqm


def read_beasley(path: Path) -> list[dimod.BinaryQuadraticModel]:
    return [instance.bqm for instance in read_beasley_instances(path)]


def gset_subgraph(name: str, size: int) -> nx.Graph:
    """The subgraph of G-set ``name`` induced by the first ``size`` nodes of a BFS from 1."""
    lines = (DATA / "gset" / f"{name}.txt").read_text().split("\n")
    graph = nx.Graph()
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 3:
            graph.add_edge(int(parts[0]), int(parts[1]), weight=float(parts[2]))
    order, seen, queue = [], {1}, deque([1])
    while queue and len(order) < size:
        u = queue.popleft()
        order.append(u)
        for v in sorted(graph.neighbors(u)):
            if v not in seen:
                seen.add(v)
                queue.append(v)
    return nx.convert_node_labels_to_integers(graph.subgraph(order).copy())


def solve_reference(bqm: dimod.BinaryQuadraticModel, seed: int) -> tuple[str, float, float]:
    """``auto`` when importable, else ``sa``: (name, energy, seconds)."""
    for name in ("auto", "sa"):
        try:
            start = time.perf_counter()
            result = qcore.solve(bqm, solver=name, seed=seed)
            return name, result.energy, time.perf_counter() - start
        except (qcore.SolverUnavailable, qcore.InvalidProblem, qcore.AllSolversFailed):
            continue
    raise RuntimeError("neither auto nor sa could run")


def section_ratio(quick: bool) -> list[dict[str, Any]]:
    rows = []
    sizes = (10, 12) if quick else (10, 12, 14, 16)
    depths = (1, 2) if quick else (1, 2, 3, 4)
    for n in sizes:
        for seed in range(2 if quick else 3):
            bqm = maxcut_bqm(nx.random_regular_graph(3, n, seed=seed))
            cmax = -float(cost_hamiltonian(bqm).diagonal().min())
            for p in depths:
                start = time.perf_counter()
                ss = QAOASolver().sample(bqm, p=p, seed=seed, backend="pennylane", maxiter=80)
                rows.append(
                    {
                        "n": n,
                        "seed": seed,
                        "p": p,
                        "ratio": -ss.info["expectation"] / cmax,
                        "best_ratio": -ss.first.energy / cmax,
                        "seconds": time.perf_counter() - start,
                    }
                )
    return rows


def section_backends(quick: bool) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for n in (10, 12) if quick else (10, 12, 14, 16):
        bqm = maxcut_bqm(nx.random_regular_graph(3, n, seed=0))
        ham = cost_hamiltonian(bqm)
        for p in (1, 3):
            circuit = QAOACircuit(ham, p)
            g, b = rng.uniform(0, 1, p), rng.uniform(-0.8, 0, p)
            values, times = {}, {}
            for name in ("pennylane", "aer"):
                backend = make_backend(name, circuit)
                backend.expectation(g, b)  # warm-up (device creation, transpile cache)
                start = time.perf_counter()
                for _ in range(5):
                    values[name] = backend.expectation(g, b)
                times[name] = (time.perf_counter() - start) / 5
            rows.append(
                {
                    "n": n,
                    "p": p,
                    "abs_diff": abs(values["pennylane"] - values["aer"]),
                    "pennylane_ms": 1000 * times["pennylane"],
                    "aer_ms": 1000 * times["aer"],
                }
            )
    return rows


def section_gset(quick: bool) -> list[dict[str, Any]]:
    rows = []
    if not (DATA / "gset").exists():
        return rows
    for name in ("G14", "G11"):
        for size in (12,) if quick else (12, 16):
            bqm = maxcut_bqm(gset_subgraph(name, size))
            exact = qcore.solve(bqm, solver="exact").energy
            ref_name, ref_energy, ref_s = solve_reference(bqm, 0)
            for p in (1, 2) if quick else (1, 2, 3):
                start = time.perf_counter()
                ss = QAOASolver().sample(bqm, p=p, seed=0, maxiter=80)
                cut = -ss.first.energy
                rows.append(
                    {
                        "graph": f"{name}[:{size}]",
                        "edges": int(bqm.num_interactions),
                        "p": p,
                        "ratio": ss.info["expectation"] / exact,
                        "best_cut": cut,
                        "exact_cut": -exact,
                        "gap_exact_pct": 100 * (cut + exact) / -exact,
                        "reference": ref_name,
                        "reference_cut": -ref_energy,
                        "gap_reference_pct": 100 * (cut + ref_energy) / -ref_energy,
                        "seconds": time.perf_counter() - start,
                        "reference_seconds": ref_s,
                    }
                )
    return rows


def section_bqp(quick: bool) -> list[dict[str, Any]]:
    rows = []
    path = DATA / "bqp" / "bqp250.txt"
    if not path.exists():
        return rows
    models = read_beasley(path)
    instances = (0,) if quick else (0, 1, 2)
    configs: list[tuple[str, str, dict[str, Any]]] = [
        ("decompose", "exact, sub 16, outer tabu", {"sub_solver": "exact", "sub_size": 16}),
        (
            "decompose",
            "exact, sub 16, no outer tabu",
            {"sub_solver": "exact", "sub_size": 16, "outer_tabu": False, "num_repeats": 3},
        ),
        (
            "decompose",
            "qaoa p=1, sub 12, outer tabu",
            {
                "sub_solver": "qaoa",
                "sub_size": 12,
                "num_repeats": 2,
                "sub_solver_params": {"p": 1, "maxiter": 30, "shots": 512},
            },
        ),
        (
            "decompose",
            "qaoa p=1, sub 12, no outer tabu",
            {
                "sub_solver": "qaoa",
                "sub_size": 12,
                "num_repeats": 2,
                "outer_tabu": False,
                "sub_solver_params": {"p": 1, "maxiter": 30, "shots": 512},
            },
        ),
    ]
    for k in instances:
        bqm, best = models[k], BQP250_BEST[k]
        ref_name, ref_energy, ref_s = solve_reference(bqm, k)
        rows.append(
            {
                "instance": f"bqp250-{k + 1}",
                "solver": ref_name,
                "config": "default",
                "value": -ref_energy,
                "gap_pct": 100 * (best + ref_energy) / best,
                "seconds": ref_s,
            }
        )
        for solver, label, params in configs:
            start = time.perf_counter()
            result = qcore.solve(bqm, solver=solver, seed=k, **params)
            rows.append(
                {
                    "instance": f"bqp250-{k + 1}",
                    "solver": solver,
                    "config": label,
                    "value": -result.energy,
                    "gap_pct": 100 * (best + result.energy) / best,
                    "seconds": time.perf_counter() - start,
                }
            )
    return rows


def markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    out = []
    if results.get("ratio"):
        rows = results["ratio"]
        out.append(
            "3-regular Max-Cut, QAOA on PennyLane lightning.qubit (simulated), mean over graphs:\n"
        )
        out.append(
            "| n | p | <C>/C_max | fixed-angle worst case | best sample / C_max | s per solve |"
        )
        out.append("|---|---|---|---|---|---|")
        for n in sorted({r["n"] for r in rows}):
            for p in sorted({r["p"] for r in rows}):
                sel = [r for r in rows if r["n"] == n and r["p"] == p]
                out.append(
                    f"| {n} | {p} | {np.mean([r['ratio'] for r in sel]):.4f} | "
                    f"{FIXED_ANGLE_RATIO[p]} | {np.mean([r['best_ratio'] for r in sel]):.3f} | "
                    f"{np.mean([r['seconds'] for r in sel]):.2f} |"
                )
        out.append("")
    if results.get("backends"):
        out.append("Same circuit, same angles, exact expectation: PennyLane vs Qiskit Aer:\n")
        out.append("| n | p | abs difference | PennyLane ms/eval | Aer EstimatorV2 ms/eval |")
        out.append("|---|---|---|---|---|")
        for r in results["backends"]:
            out.append(
                f"| {r['n']} | {r['p']} | {r['abs_diff']:.1e} | {r['pennylane_ms']:.1f} | "
                f"{r['aer_ms']:.1f} |"
            )
        out.append("")
    if results.get("gset"):
        out.append(
            "G-set-derived subgraphs (BFS from node 1), QAOA best sample vs exact and reference:\n"
        )
        out.append(
            "| graph | edges | p | <C>/C_max | QAOA cut | exact cut | gap to exact | "
            "reference | ref cut | gap to ref | QAOA s | ref s |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in results["gset"]:
            out.append(
                f"| {r['graph']} | {r['edges']} | {r['p']} | {r['ratio']:.3f} | "
                f"{r['best_cut']:g} | {r['exact_cut']:g} | {r['gap_exact_pct']:.2f}% | "
                f"{r['reference']} | {r['reference_cut']:g} | {r['gap_reference_pct']:.2f}% | "
                f"{r['seconds']:.2f} | {r['reference_seconds']:.2f} |"
            )
        out.append("")
    if results.get("bqp"):
        out.append("bqp250 (maximisation; gap to best-known):\n")
        out.append("| instance | solver | configuration | value | gap | s |")
        out.append("|---|---|---|---|---|---|")
        for r in results["bqp"]:
            out.append(
                f"| {r['instance']} | {r['solver']} | {r['config']} | {r['value']:g} | "
                f"{r['gap_pct']:.2f}% | {r['seconds']:.1f} |"
            )
        out.append("")
    return "\n".join(out)


SECTIONS = {
    "ratio": section_ratio,
    "backends": section_backends,
    "gset": section_gset,
    "bqp": section_bqp,
}


@entry_point("bench_quantum")
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="bench_quantum", description=__doc__.split("\n")[0])
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
        raise InvalidProblem(f"--json {args.json}: name a file in an existing folder.")
    names = args.section or list(SECTIONS)
    results = {}
    for name in names:
        start = time.perf_counter()
        results[name] = SECTIONS[name](args.quick)
        print(f"<!-- section {name}: {time.perf_counter() - start:.0f} s -->", flush=True)
        print(markdown({name: results[name]}), flush=True)
    print(
        f"<!-- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()} -->"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
