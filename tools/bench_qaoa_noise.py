"""QAOA under device noise, with and without error mitigation (issue 21).

Every figure is a classical SIMULATION on Qiskit Aer of an IBM device's published calibration
snapshot (qiskit-ibm-runtime fake backends: gate errors, T1/T2, readout errors, coupling map);
no quantum hardware is used. Per instance, device and depth p, one seeded
``qcore.solve(solver="qaoa", backend="aer", noise=DEVICE, mitigation="readout+zne",
optimize_on="noiseless")``: the angles come from the ideal simulation, the transpiled circuit
runs on the noisy device, and from the same shots ``info["expectation_by_mitigation"]`` gives
the expectation with no mitigation, readout correction, ZNE, and both. The error of each is
against the noiseless expectation at the same angles.

    uv run python tools/bench_qaoa_noise.py                       # markdown on stdout
    uv run python tools/bench_qaoa_noise.py --sizes 8 --depths 1 --seeds 0 --quick
    uv run python tools/bench_qaoa_noise.py --crossover           # deeper p, one instance
    uv run python tools/bench_qaoa_noise.py --json out.json       # raw rows as well

Random sampling at the same shots: a uniform bitstring's mean energy is the Hamiltonian's
offset (every Z term averages to 0), and it hits an optimal cut with probability
(number of optimal states) / 2^n. QAOA's noisy SAMPLES (not the mitigated expectation, which is
an estimate and cannot be sampled) are "no better than random" when their mean ratio is within
two standard errors of random's and their probability of an optimal cut is no higher.
"""

from __future__ import annotations

import argparse
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
from qcore.problems import maxcut
from qcore.solvers.hamiltonian import cost_hamiltonian

DATA = Path(os.environ.get("QF_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEVICES = ("fake_sherbrooke", "fake_torino")
MITIGATIONS = ("none", "readout", "zne", "readout+zne")


def three_regular(n: int, seed: int) -> nx.Graph:
    graph = nx.random_regular_graph(3, n, seed=seed)
    rng = np.random.default_rng(seed)
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(np.round(rng.uniform(0.5, 1.5), 3))
    return graph


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


def instances(sizes: list[int]) -> list[tuple[str, dimod.BinaryQuadraticModel]]:
    out = []
    for n in sizes:
        out.append((f"3reg-w n={n}", maxcut(three_regular(n, seed=n)).bqm))
        if (DATA / "gset" / "G11.txt").exists():
            out.append((f"G11-bfs n={n}", maxcut(gset_subgraph("G11", n)).bqm))
    return out


def random_baseline(bqm: dimod.BinaryQuadraticModel, shots: int) -> dict[str, float]:
    ham = cost_hamiltonian(bqm)
    diag = ham.diagonal()
    low, high = float(diag.min()), float(diag.max())
    span = high - low
    mean_ratio = (high - float(diag.mean())) / span
    stderr_ratio = float(diag.std()) / span / np.sqrt(shots)
    p_opt = float(np.mean(np.isclose(diag, low)))
    return {
        "mean_ratio": mean_ratio,
        "stderr_ratio": stderr_ratio,
        "p_opt": p_opt,
        "p_best_of_shots": 1.0 - (1.0 - p_opt) ** shots,
        "low": low,
        "high": high,
    }


def run_point(
    label: str,
    bqm: dimod.BinaryQuadraticModel,
    device: str,
    p: int,
    seed: int,
    shots: int,
    readout_shots: int,
    maxiter: int,
) -> dict[str, Any]:
    start = time.perf_counter()
    result = qcore.solve(
        bqm,
        solver="qaoa",
        backend="aer",
        noise=device,
        mitigation="readout+zne",
        optimize_on="noiseless",
        p=p,
        shots=shots,
        readout_shots=readout_shots,
        maxiter=maxiter,
        seed=seed,
    )
    wall = time.perf_counter() - start
    info = result.sampleset.info
    ss = result.sampleset
    base = random_baseline(bqm, shots)
    span = base["high"] - base["low"]
    energies = ss.record.energy
    counts = ss.record.num_occurrences
    p_opt = float(counts[np.isclose(energies, base["low"])].sum() / counts.sum())
    ideal = info["expectation_noiseless"]
    by = info["expectation_by_mitigation"]
    k = len(info["zne"]["scale_factors"])
    cal = info["readout_calibration"]["shots"]
    return {
        "instance": label,
        "n": bqm.num_variables,
        "device": device,
        "p": p,
        "seed": seed,
        "depth": info["noise"]["transpiled"]["depth"],
        "two_qubit_gates": info["noise"]["transpiled"]["two_qubit_gates"],
        "method": info["noise"]["method"],
        "noiseless": ideal,
        "expectations": by,
        "errors": {m: abs(v - ideal) for m, v in by.items()},
        "ratio_noiseless": (base["high"] - ideal) / span,
        "ratio_by_mitigation": {m: (base["high"] - v) / span for m, v in by.items()},
        "best_sample_ratio": info["approximation_ratio"],
        "p_opt_noisy": p_opt,
        "random": base,
        "shots": {
            "none": shots,
            "readout": shots + cal,
            "zne": k * shots,
            "readout+zne": k * shots + cal,
        },
        "wall_s": wall,
    }


def optimise_under_noise(
    bqm: dimod.BinaryQuadraticModel, device: str, mitigation: str, seed: int, maxiter: int
) -> dict[str, Any]:
    """p = 1 with the optimiser on the noisy device (``optimize_on="noisy"``): what the angles
    it finds are worth on an ideal device, and what the run cost in shots."""
    start = time.perf_counter()
    result = qcore.solve(
        bqm,
        solver="qaoa",
        backend="aer",
        noise=device,
        mitigation=mitigation,
        optimize_on="noisy",
        p=1,
        shots=4096,
        optimizer_shots=2048,
        readout_shots=4096,
        maxiter=maxiter,
        seed=seed,
    )
    info = result.sampleset.info
    base = random_baseline(bqm, 4096)
    span = base["high"] - base["low"]
    return {
        "device": device,
        "mitigation": mitigation,
        "seed": seed,
        "ratio_noiseless_at_found_angles": (base["high"] - info["expectation_noiseless"]) / span,
        "optimiser_final_estimate_ratio": (base["high"] - info["stages"][-1]["expectation"]) / span,
        "best_sample_ratio": info["approximation_ratio"],
        "evaluations": info["stages"][-1]["nfev"],
        "shots_total": info["shots_total"],
        "mitigation_shots": info["mitigation_shots"],
        "wall_s": time.perf_counter() - start,
    }


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _groups(rows: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["device"], r["instance"].split()[0], r["n"], r["p"])
        groups.setdefault(key, []).append(r)
    return dict(sorted(groups.items()))


def _mean(group: list[dict[str, Any]], get: Any) -> float:
    return float(np.mean([get(r) for r in group]))


def summarise(rows: list[dict[str, Any]]) -> str:
    """Table 1 of docs/benchmarks.md: expectation error by mitigation (mean over seeds)."""
    out = [
        "| device | instance | p | depth / 2q gates | ideal <C> ratio | noisy <C> ratio | "
        "err none | err readout | err zne | err readout+zne | shrink (readout+zne) | "
        "s per solve |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (device, _, _, p), g in _groups(rows).items():
        r0 = g[0]
        err = {m: _mean(g, lambda r, m=m: r["errors"][m]) for m in MITIGATIONS}
        out.append(
            f"| {device} | {r0['instance']} | {p} | {r0['depth']} / {r0['two_qubit_gates']} | "
            f"{fmt(_mean(g, lambda r: r['ratio_noiseless']))} | "
            f"{fmt(_mean(g, lambda r: r['ratio_by_mitigation']['none']))} | "
            + " | ".join(fmt(err[m]) for m in MITIGATIONS)
            + f" | {err['none'] / max(err['readout+zne'], 1e-12):.1f}x | "
            f"{fmt(_mean(g, lambda r: r['wall_s']), 1)} |"
        )
    return "\n".join(out)


def ratios(rows: list[dict[str, Any]]) -> str:
    """Table 1b: the approximation ratio of each estimate, the best sample's, the shots."""
    out = [
        "| device | instance | p | ideal | noisy, none | readout | zne | readout+zne | "
        "best sample | shots none / readout / zne / both |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (device, _, _, p), g in _groups(rows).items():
        r0, sh = g[0], g[0]["shots"]
        vals = [_mean(g, lambda r, m=m: r["ratio_by_mitigation"][m]) for m in MITIGATIONS]
        out.append(
            f"| {device} | {r0['instance']} | {p} | "
            f"{fmt(_mean(g, lambda r: r['ratio_noiseless']))} | "
            + " | ".join(fmt(v) for v in vals)
            + f" | {fmt(_mean(g, lambda r: r['best_sample_ratio']))} | "
            f"{sh['none']} / {sh['readout']} / {sh['zne']} / {sh['readout+zne']} |"
        )
    return "\n".join(out)


def versus_random(rows: list[dict[str, Any]]) -> str:
    """Noisy samples against uniform random sampling at the same shots (table 3's test)."""
    out = [
        "| device | instance | p | depth / 2q gates | ideal <C> ratio | noisy samples <C> ratio | "
        "random <C> ratio (2 s.e.) | P(optimal cut), noisy | P(optimal cut), random | "
        "better than random? | err none | err readout+zne |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (device, _, _, p), g in _groups(rows).items():
        r0, base = g[0], g[0]["random"]
        mean = _mean(g, lambda r: r["ratio_by_mitigation"]["none"])
        margin = 2 * base["stderr_ratio"] * np.sqrt(2)  # both estimates carry shot noise
        popt = _mean(g, lambda r: r["p_opt_noisy"])
        better = mean > base["mean_ratio"] + margin and popt > base["p_opt"]
        out.append(
            f"| {device} | {r0['instance']} | {p} | {r0['depth']} / {r0['two_qubit_gates']} | "
            f"{fmt(_mean(g, lambda r: r['ratio_noiseless']))} | {fmt(mean)} | "
            f"{fmt(base['mean_ratio'])} (±{fmt(2 * base['stderr_ratio'])}) | {fmt(popt)} | "
            f"{fmt(base['p_opt'])} | {'yes' if better else 'NO'} | "
            f"{fmt(_mean(g, lambda r: r['errors']['none']))} | "
            f"{fmt(_mean(g, lambda r: r['errors']['readout+zne']))} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="8,10")
    parser.add_argument("--depths", default="1,2,3")
    parser.add_argument("--devices", default=",".join(DEVICES))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--shots", type=int, default=4096)
    parser.add_argument("--readout-shots", type=int, default=4096)
    parser.add_argument("--maxiter", type=int, default=60)
    parser.add_argument("--crossover", action="store_true", help="p = 1..max-p on 3reg-w n=8")
    parser.add_argument("--max-p", type=int, default=8, help="deepest p of --crossover")
    parser.add_argument("--crossover-depths", help="explicit p list for --crossover, e.g. 1,4,8,12")
    parser.add_argument("--quick", action="store_true", help="one instance per size")
    parser.add_argument(
        "--stderr", action="store_true", help="shot-noise standard error of each estimator, p=1"
    )
    parser.add_argument(
        "--noisy-optimiser", action="store_true", help="p = 1, optimiser on the noisy device"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--tables", type=Path, nargs="+", help="print the tables of saved --json runs"
    )
    args = parser.parse_args()
    if args.tables:
        saved = [row for path in args.tables for row in json.loads(path.read_text())]
        print(summarise(saved), ratios(saved), versus_random(saved), sep="\n\n")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    depths = [int(s) for s in args.depths.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    devices = args.devices.split(",")
    cases = instances(sizes)
    if args.crossover:
        cases = [c for c in instances([8]) if c[0].startswith("3reg")]
        depths = list(range(1, args.max_p + 1))
        if args.crossover_depths:
            depths = [int(s) for s in args.crossover_depths.split(",")]
    elif args.quick:
        cases = [c for c in cases if c[0].startswith("3reg")]
    if args.stderr:
        from qcore.solvers.mitigation import richardson_weights

        amp = float(np.sqrt((richardson_weights((1.0, 3.0, 5.0)) ** 2).sum()))
        print(
            f"p = 1, ideal samples, {args.shots} shots; "
            f"Richardson at 1, 3, 5 amplifies x{amp:.2f}\n"
        )
        print("| instance | sd(H) | s.e. of one circuit's estimate | s.e. after Richardson |")
        print("|---|---|---|---|")
        for label, bqm in cases:
            ss = qcore.solve(bqm, solver="qaoa", backend="aer", p=1, shots=args.shots, seed=0)
            e, c = ss.sampleset.record.energy, ss.sampleset.record.num_occurrences
            mean = float((e * c).sum() / c.sum())
            sd = float(np.sqrt(((e - mean) ** 2 * c).sum() / c.sum()))
            se = sd / np.sqrt(args.shots)
            print(f"| {label} | {fmt(sd)} | {fmt(se, 4)} | {fmt(amp * se, 4)} |")
        return
    if args.noisy_optimiser:
        (label, bqm) = next(c for c in instances([8]) if c[0].startswith("3reg"))
        print(
            f"{label}, p = 1, optimize_on='noisy' (COBYLA, maxiter {args.maxiter}, 2048 shots "
            "per circuit per evaluation; final 4096), seeds " + args.seeds + "\n"
        )
        print(
            "| device | mitigation seen by the optimiser | ideal ratio at the angles found | "
            "optimiser's last estimate (ratio) | best-sample ratio | evaluations | shots | "
            "of which mitigation | wall s |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        opt_rows = []
        for device in devices:
            for mitigation in ("none", "readout+zne"):
                for seed in seeds:
                    r = optimise_under_noise(bqm, device, mitigation, seed, args.maxiter)
                    opt_rows.append(r)
                    print(
                        f"| {device} | {mitigation} | {fmt(r['ratio_noiseless_at_found_angles'])} "
                        f"| {fmt(r['optimiser_final_estimate_ratio'])} | "
                        f"{fmt(r['best_sample_ratio'])} | {r['evaluations']} | "
                        f"{r['shots_total']} | {r['mitigation_shots']} | {fmt(r['wall_s'], 1)} |",
                        flush=True,
                    )
        if args.json:
            args.json.write_text(json.dumps(opt_rows, indent=1, default=float))
        return
    rows = []
    for device in devices:
        for label, bqm in cases:
            for p in depths:
                for seed in seeds:
                    row = run_point(
                        label, bqm, device, p, seed, args.shots, args.readout_shots, args.maxiter
                    )
                    rows.append(row)
                    print(
                        f"<!-- {device} {label} p={p} seed={seed}: "
                        + ", ".join(f"{m} {row['errors'][m]:.3f}" for m in MITIGATIONS)
                        + f"; {row['wall_s']:.1f} s -->",
                        flush=True,
                    )
    print(
        f"\n{platform.python_version()}, qiskit-aer, {os.cpu_count()} CPUs; shots {args.shots} "
        f"per circuit, readout calibration {args.readout_shots} shots, ZNE scale factors 1, 3, 5 "
        f"(Richardson), seeds {args.seeds}; |err| = |estimate - noiseless expectation| at the "
        "same angles, mean over seeds.\n"
    )
    print(summarise(rows))
    print()
    print(ratios(rows))
    print()
    print(versus_random(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
