"""Does ``auto`` ever lose to its own members? A suite over instance classes, run by work count.

For every instance and seed it runs ``auto`` (its members raced on two cores) and then each
member alone (``auto`` with ``members=(name,)`` on one worker: the same member runner, the same
seed, the whole budget) and, as outside baselines, the registered ``sa`` and ``tabu`` solvers
(dwave-samplers as shipped, wall-clock ``time_limit``). Reported per class: the median energy
gap to the target, auto's win/tie/loss against every member and baseline (per run and on the
median over seeds), and the time to target from each run's anytime trace.

Targets: the planted energy (Wishart), the best-known value (G-set, Beasley), else the lowest
energy any run of any solver found.

    B=tools/bench_auto_portfolio.py
    uv run python $B --budget 1 --seeds 3 --out bench-results/auto-suite.json
    uv run python $B --classes wishart160 --budget 20 --seeds 10 --solvers auto members
    uv run python $B --classes gset --budget 30 --seeds 2 --solvers auto
    uv run python $B --report bench-results/auto-suite.json
    uv run python $B --rates      # re-measure auto's nominal rates
    uv run python $B --backends   # PT: numba vs numpy

auto's budget is a work count (its nominal rates), so its answers do not depend on the load;
the baselines' are wall clock, so theirs do (the machine here is a shared 2-core VM).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import dimod
import networkx as nx
import numpy as np
import qcore
from qcore.bench import BQP_BEST, GSET_BEST
from qcore.io import read_beasley, read_gset
from qcore.planted import wishart
from qcore.problems import assignment, graph_coloring, graph_partition
from qcore.solvers import portfolio

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TOL = 1e-6


def _wishart(n, alpha, seeds):
    return [
        (inst.name, inst.bqm, inst.ground_energy)
        for inst in (wishart(n, alpha, seed=s) for s in seeds)
    ]


def instances(cls: str) -> list[tuple[str, dimod.BinaryQuadraticModel, float | None]]:
    """``(name, bqm, target energy or None)`` for a class."""
    if cls == "wishart":
        return _wishart(60, 0.5, [0, 1]) + _wishart(100, 0.75, [0, 1]) + _wishart(160, 1.0, [0, 1])
    if cls == "wishart160":
        return _wishart(160, 0.75, range(10))
    if cls in ("gset", "gset-hard"):
        out = []
        for name in ("G14", "G55", "G1", "G22", "G43") if cls == "gset" else ("G14", "G55"):
            g = read_gset(DATA / "gset" / f"{name}.txt")
            # energy = sum_{ij} w s_i s_j; cut = (W - energy) / 2
            total = float(g.weights.sum())
            out.append((name, g.bqm, total - 2 * GSET_BEST[name]))
        return out
    if cls == "gset-small":
        g = read_gset(DATA / "gset" / "G14.txt")
        return [("G14", g.bqm, float(g.weights.sum()) - 2 * GSET_BEST["G14"])]
    if cls == "beasley":
        out = []
        for inst in read_beasley(DATA / "bqp" / "bqp250.txt")[:3]:
            out.append((inst.name, inst.bqm, -float(BQP_BEST["bqp250"][inst.index - 1])))
        return out
    if cls == "penalty":
        rng = np.random.default_rng(0)
        cost = rng.uniform(1, 10, size=(12, 4))
        regular = nx.random_regular_graph(3, 40, seed=1)
        sparse = nx.gnp_random_graph(40, 0.15, seed=2)
        return [
            ("assignment-12x4", assignment(cost, [3, 3, 3, 3]).bqm, None),
            ("colouring-3reg40-k3", graph_coloring(regular, 3).bqm, None),
            ("partition-gnp40-k2", graph_partition(sparse, 2).bqm, None),
        ]
    if cls == "dimod":
        grid = nx.grid_2d_graph(12, 12)
        regular = nx.random_regular_graph(6, 200, seed=2)
        gen = dimod.generators
        return [
            ("frustrated_loop-grid12", gen.frustrated_loop(grid, 200, seed=1), None),
            ("ran_r-3-reg200", gen.ran_r(3, regular, seed=2), None),
            ("doped-0.2-grid12", gen.doped(0.2, grid, seed=3), None),
        ]
    raise SystemExit(f"--classes: unknown class {cls!r}")


CLASSES = ("wishart", "gset-small", "beasley", "penalty", "dimod")


def run_one(solver: str, bqm, budget: float, seed: int) -> dict:
    start = time.perf_counter()
    if solver == "auto":
        result = qcore.solve(bqm, "auto", time_limit=budget, seed=seed)
        info = result.sampleset.info
        trace = [[t, e] for t, e, _ in info["trace"]]
        extra = {
            "cpu_trace": [[t, e] for t, e, _ in info["cpu_trace"]],
            "winner": info["winner"],
            "deterministic": info["deterministic"],
            "member_energies": {k: v["energy"] for k, v in info["members"].items()},
            "member_detail": {
                k: {x: y for x, y in v.items() if x not in ("energy", "before_polish")}
                for k, v in info["members"].items()
            },
        }
    elif solver.startswith("member:"):
        name = solver.split(":", 1)[1]
        result = qcore.solve(bqm, "auto", time_limit=budget, seed=seed, members=(name,), workers=1)
        trace = [[t, e] for t, e, _ in result.sampleset.info["trace"]]
        extra = {"cpu_trace": [[t, e] for t, e, _ in result.sampleset.info["cpu_trace"]]}
    else:  # an outside baseline, wall clock
        result = qcore.solve(bqm, solver, time_limit=budget, seed=seed)
        trace = [[time.perf_counter() - start, result.energy]]
        extra = {"cpu_trace": trace}  # one process; its wall time stands in
    return {"energy": result.energy, "wall_s": time.perf_counter() - start, "trace": trace, **extra}


def bench(classes, solvers, budget, seeds, log) -> list[dict]:
    rows = []
    for cls in classes:
        for name, bqm, target in instances(cls):
            members = portfolio.choose_members(bqm, 2)
            names = []
            for s in solvers:
                if s == "members":
                    names += [f"member:{m}" for m in dict.fromkeys(members)]
                else:
                    names.append(s)
            for seed in seeds:
                for solver in names:
                    out = run_one(solver, bqm, budget, seed)
                    row = {
                        **{"class": cls, "instance": name, "solver": solver, "seed": seed},
                        **{"budget_s": budget, "target": target, "members": list(members)},
                        **out,
                    }
                    rows.append(row)
                    log(f"{cls} {name} {solver} seed={seed}: {out['energy']:.6g} "
                        f"(target {target}) in {out['wall_s']:.1f} s")  # fmt: skip
    return rows


def _time_to(trace, target):
    for t, e in trace:
        if e <= target + TOL * max(1.0, abs(target)):
            return t
    return None


def report(rows: list[dict], command: str) -> str:
    lines = [f"`{command}`", ""]
    for cls in dict.fromkeys(r["class"] for r in rows):
        crow = [r for r in rows if r["class"] == cls]
        solvers = list(dict.fromkeys(r["solver"] for r in crow))
        insts = list(dict.fromkeys(r["instance"] for r in crow))
        budget = crow[0]["budget_s"]
        targets = {}
        for inst in insts:
            irows = [r for r in crow if r["instance"] == inst]
            given = irows[0]["target"]
            targets[inst] = given if given is not None else min(r["energy"] for r in irows)
        lines += [
            f"**{cls}** at {budget:g} s (members: {', '.join(crow[0]['members'])} for the "
            "first instance). Cell: median energy gap to target · runs at target · median "
            "time to target (runs that got there): CPU seconds of the member that got there "
            "for auto and its members, wall seconds for the baselines (which answer at the end).",
            "",
            "| instance | target | " + " | ".join(solvers) + " |",
            "|---|---|" + "---|" * len(solvers),
        ]
        for inst in insts:
            cells = []
            for s in solvers:
                rs = [r for r in crow if r["instance"] == inst and r["solver"] == s]
                if not rs:
                    cells.append("—")
                    continue
                gaps = [r["energy"] - targets[inst] for r in rs]
                times = (_time_to(r.get("cpu_trace", r["trace"]), targets[inst]) for r in rs)
                hits = [t for t in times if t is not None]
                ttt = f"{statistics.median(hits):.2f} s" if hits else "never"
                cells.append(f"{statistics.median(gaps):.4g} · {len(hits)}/{len(rs)} · {ttt}")
            lines.append(f"| {inst} | {targets[inst]:.6g} | " + " | ".join(cells) + " |")
        if "auto" in solvers:
            lines += ["", "| auto vs | runs W/T/L | instance medians W/T/L |", "|---|---|---|"]
            for s in solvers:
                if s == "auto":
                    continue
                run_wtl, med_wtl = [0, 0, 0], [0, 0, 0]
                for inst in insts:
                    a = {
                        r["seed"]: r["energy"]
                        for r in crow
                        if r["instance"] == inst and r["solver"] == "auto"
                    }
                    b = {
                        r["seed"]: r["energy"]
                        for r in crow
                        if r["instance"] == inst and r["solver"] == s
                    }
                    for seed in a.keys() & b.keys():
                        run_wtl[_cmp(a[seed], b[seed])] += 1
                    if a and b:
                        med_wtl[
                            _cmp(statistics.median(a.values()), statistics.median(b.values()))
                        ] += 1
                runs_text, med_text = "/".join(map(str, run_wtl)), "/".join(map(str, med_wtl))
                lines.append(f"| {s} | {runs_text} | {med_text} |")
        lines.append("")
    return "\n".join(lines)


def gset_report(rows: list[dict]) -> str:
    """G-set rows of ``auto`` as cuts: median cut, each member's cut inside auto, the
    time-to-target curve (best cut by 1/3/10/30 CPU seconds of the members) and the CPU time
    to best-known and to within 0.2% of it."""
    lines = [
        "| instance | best-known | auto cut (per seed) | members' cuts (per seed) | "
        "by 1 / 3 / 10 / 30 CPU s (median) | CPU s to 0.2% | CPU s to best-known |",
        "|---|---|---|---|---|---|---|",
    ]
    for inst in dict.fromkeys(r["instance"] for r in rows if r["class"].startswith("gset")):
        rs = [r for r in rows if r["instance"] == inst and r["solver"] == "auto"]
        if not rs:
            continue
        best = GSET_BEST[inst]
        total = rs[0]["target"] + 2 * best  # energy = W - 2 cut

        def cut(energy, total=total):
            return round((total - energy) / 2)

        members = {}
        for r in rs:
            for name, energy in r["member_energies"].items():
                members.setdefault(name, []).append(cut(energy))
        curve = []
        for limit in (1, 3, 10, 30):
            reached = []
            for r in rs:
                done = [cut(e) for t, e in r["cpu_trace"] if t <= limit]
                reached.append(max(done) if done else 0)
            curve.append(f"{statistics.median(reached):.0f}")

        def ttt(goal, rs=rs, cut=cut):
            hits = [next((t for t, e in r["cpu_trace"] if cut(e) >= goal), None) for r in rs]
            got = [t for t in hits if t is not None]
            return f"{statistics.median(got):.1f} ({len(got)}/{len(rs)})" if got else "never"

        cuts = ", ".join(str(cut(r["energy"])) for r in rs)
        mem = "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in members.items())
        lines.append(
            f"| {inst} | {best} | {cuts} | {mem} | {' / '.join(curve)} | "
            f"{ttt(0.998 * best)} | {ttt(best)} |"
        )
    return "\n".join(lines)


def _cmp(a: float, b: float) -> int:
    """0: a better (lower), 1: tie, 2: a worse."""
    scale = TOL * max(1.0, abs(a), abs(b))
    return 0 if a < b - scale else 2 if a > b + scale else 1


def measure_rates() -> None:
    """CPU seconds per unit of work of each member on three shapes (the fit in RATES)."""
    shapes = {
        "bqp250-1": read_beasley(DATA / "bqp" / "bqp250.txt")[0].bqm,
        "G1": read_gset(DATA / "gset" / "G1.txt").bqm,
        "G14": read_gset(DATA / "gset" / "G14.txt").bqm,
        "G55": read_gset(DATA / "gset" / "G55.txt").bqm,
        "wishart160": wishart(160, 0.75, seed=0).bqm,
        "wishart60": wishart(60, 0.5, seed=0).bqm,
    }
    for label, bqm in shapes.items():
        for name in portfolio.MEMBERS:
            runner = portfolio.WORK_RUNNERS[name]
            runner(bqm, 0.05, 0)  # warm (numba)
            t0 = time.process_time()
            out = runner(bqm, 1.0, 1)
            cpu = time.process_time() - t0
            print(f"{label} {name}: {cpu:.2f} CPU s for 1 nominal s ({out['detail']})", flush=True)


def measure_backends() -> None:
    """PT replica-sweeps per CPU second, numba vs numpy, on two shapes."""
    from qcore.solvers.base import Deadline
    from qcore.solvers.parallel_tempering import default_replicas, parallel_tempering, pt_beta_range
    from qcore.validation import ising_arrays

    shapes = {
        "wishart160": wishart(160, 0.75, seed=0).bqm,
        "G14": read_gset(DATA / "gset" / "G14.txt").bqm,
    }
    for label, bqm in shapes.items():
        arrays = ising_arrays(bqm)
        replicas = default_replicas(arrays.num_variables)
        for backend, sweeps in (("numba", 2000), ("numpy", 40)):
            kwargs = {
                "replicas": replicas, "sweeps_per_swap": 1, "beta_range": pt_beta_range(arrays),
                "seed": 0, "deadline": Deadline(None), "backend": backend,
            }  # fmt: skip
            parallel_tempering(arrays, num_sweeps=2, **kwargs)  # compile / warm
            start = time.process_time()
            parallel_tempering(arrays, num_sweeps=sweeps, **kwargs)
            rate = sweeps * replicas / (time.process_time() - start)
            print(f"{label} {backend}: {rate:,.0f} replica-sweeps per CPU second", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", nargs="+", default=list(CLASSES))
    parser.add_argument("--solvers", nargs="+", default=["auto", "members", "sa", "tabu"])
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--report", type=Path, help="re-render a saved JSON")
    parser.add_argument("--rates", action="store_true")
    parser.add_argument("--backends", action="store_true", help="PT: numba vs numpy speed")
    args = parser.parse_args(argv)
    if args.rates:
        measure_rates()
        return 0
    if args.backends:
        measure_backends()
        return 0
    if args.report:
        saved = json.loads(args.report.read_text())
        print(report(saved["rows"], saved["command"]))
        if any(r["class"].startswith("gset") for r in saved["rows"]):
            print(gset_report(saved["rows"]))
        return 0
    command = "uv run python tools/bench_auto_portfolio.py " + " ".join(argv or sys.argv[1:])
    rows = bench(args.classes, args.solvers, args.budget, list(range(args.seeds)),
                 lambda text: print(text, file=sys.stderr, flush=True))  # fmt: skip
    text = report(rows, command)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": command, "rows": rows}, indent=1))
        args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
