"""Benchmark of qenergy's schedulers against the CP-SAT anchor on generated instances.

For each size and objective: one generated instance (seeded), jobs may be capped to 85 % or
70 % of their draw. Methods: the EDF rule alone, the best list heuristic, the QUBO (small
instances), the QUBO hybrid, ``auto`` at its default time limit, and the anchor (CP-SAT alone,
unhinted, with ``--anchor-limit`` seconds). Each row has the peak (W), energy (kWh), the
objective in the integer model every method shares, the solve time, the feasibility verdict
of the independent checker, and the gap to the anchor's value and bound.

Targets (issue 17): ``auto`` within 2 % of the optimum wherever the anchor proves it; elsewhere
``auto`` better than the best list heuristic, by the margin reported; every schedule feasible.

    nice -n 10 uv run --frozen python tools/bench_qenergy.py --sizes 10 20 50 100 200 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from qenergy import generate_instance
from qenergy.instance import build_instance
from qenergy.schedule import default_time_limit, schedule_instance

CAPS = (0.85, 0.7)


def run(
    sizes: list[int], seed: int, anchor_limit: float, hybrid_max: int, qubo_max: int
) -> list[dict]:
    rows = []
    for n in sizes:
        jobs, cluster = generate_instance(n, seed=seed)
        inst = build_instance(jobs, cluster, caps=CAPS)
        for objective in ("peak", "energy"):
            methods = ["edf", "list"]
            if n <= qubo_max:
                methods.append("qubo")
            if n <= hybrid_max:
                methods.append("hybrid")
            methods += ["auto", "anchor"]
            results = {}
            for m in methods:
                limit = {"anchor": anchor_limit, "qubo": 5.0, "hybrid": 10.0}.get(m)
                t0 = time.perf_counter()
                res = schedule_instance(
                    inst, "cpsat" if m == "anchor" else m, objective, seed, limit
                )
                results[m] = (res, time.perf_counter() - t0)
            anchor = results["anchor"][0]
            best_known = min(r.model_value for r, _ in results.values())
            for m, (res, wall) in results.items():
                rows.append(
                    {
                        "jobs": n,
                        "gpus": cluster.gpus,
                        "objective": objective,
                        "method": m,
                        "peak_w": round(res.peak_w, 1),
                        "energy_kwh": round(res.energy_j / 3.6e6, 3),
                        "value": res.model_value,
                        "wall_s": round(wall, 2),
                        "feasible": res.feasible,
                        "anchor_proven": anchor.proven_optimal,
                        "anchor_bound": anchor.bound,
                        "gap_to_anchor_pct": round(
                            100 * (res.model_value - anchor.model_value) / anchor.model_value, 3
                        ),
                        "gap_to_bound_pct": round(
                            100 * (res.model_value - anchor.bound) / res.model_value, 3
                        )
                        if anchor.bound is not None
                        else None,
                        "gap_to_best_pct": round(
                            100 * (res.model_value - best_known) / best_known, 3
                        ),
                        "time_limit_s": default_time_limit(n) if m == "auto" else None,
                    }
                )
            print(
                f"{n:4d} {objective:6s} "
                + " ".join(f"{m}={r.model_value:.6g}({w:.1f}s)" for m, (r, w) in results.items())
                + f" anchor={'OPT' if anchor.proven_optimal else 'feas'}",
                file=sys.stderr,
                flush=True,
            )
    return rows


def verdicts(rows: list[dict]) -> dict:
    by = {}
    for r in rows:
        by.setdefault((r["jobs"], r["objective"]), {})[r["method"]] = r
    proven, elsewhere = [], []
    for (n, obj), ms in sorted(by.items()):
        auto, lst = ms["auto"], ms["list"]
        if auto["anchor_proven"]:
            proven.append(
                {
                    "jobs": n,
                    "objective": obj,
                    "auto_gap_pct": auto["gap_to_anchor_pct"],
                    "ok": auto["gap_to_anchor_pct"] <= 2.0,
                }
            )
        else:
            margin = 100 * (lst["value"] - auto["value"]) / lst["value"]
            elsewhere.append(
                {
                    "jobs": n,
                    "objective": obj,
                    "auto_vs_list_pct": round(margin, 3),
                    "auto_gap_to_bound_pct": auto["gap_to_bound_pct"],
                    "ok": margin > 0,
                }
            )
    return {
        "proven": proven,
        "unproven": elsewhere,
        "all_feasible": all(r["feasible"] for r in rows),
        "met": all(p["ok"] for p in proven)
        and all(e["ok"] for e in elsewhere)
        and all(r["feasible"] for r in rows),
    }


def markdown(rows: list[dict]) -> str:
    head = (
        "| jobs | GPUs | objective | method | peak kW | energy kWh | model value "
        "| gap to anchor % | gap to bound % | time s | feasible |"
    )
    out = [head, "|" + "---|" * 11]
    for r in rows:
        bound = "" if r["gap_to_bound_pct"] is None else f"{r['gap_to_bound_pct']:.2f}"
        val = (
            f"{r['value'] / 1000:.2f} kW"
            if r["objective"] == "peak"
            else f"{r['value'] / 3.6e6:.2f} kWh"
        )
        out.append(
            f"| {r['jobs']} | {r['gpus']} | {r['objective']} | {r['method']} "
            f"| {r['peak_w'] / 1000:.2f} | "
            f"{r['energy_kwh']:.1f} | {val} | {r['gap_to_anchor_pct']:+.2f} | "
            f"{bound} | {r['wall_s']:.1f} | {r['feasible']} |"
        )
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    """One line per instance and objective: list, auto, the anchor and its bound, the gaps."""
    by: dict = {}
    for r in rows:
        by.setdefault((r["jobs"], r["objective"]), {})[r["method"]] = r
    out = [
        "| jobs | GPUs | objective | list | auto (s) | anchor (status, s) | anchor bound "
        "| auto vs anchor | auto vs bound | auto better than list by | QUBO hybrid vs list |",
        "|" + "---|" * 11,
    ]
    for (n, obj), ms in sorted(by.items(), key=lambda k: (k[0][1], k[0][0])):

        def f(v: float, obj: str = obj) -> str:
            return f"{v / 1000:.2f} kW" if obj == "peak" else f"{v / 3.6e6:.2f} kWh"

        a, lst, an = ms["auto"], ms["list"], ms["anchor"]
        hyb = ms.get("hybrid")
        hyb_text = (
            f"{100 * (hyb['value'] - lst['value']) / lst['value']:+.2f} %" if hyb else "not run"
        )
        status = "optimal" if an["anchor_proven"] else "feasible"
        out.append(
            f"| {n} | {a['gpus']} | {obj} | {f(lst['value'])} "
            f"| {f(a['value'])} ({a['wall_s']:.1f}) "
            f"| {f(an['value'])} ({status}, {an['wall_s']:.1f}) | {f(an['anchor_bound'])} "
            f"| {a['gap_to_anchor_pct']:+.2f} % | {a['gap_to_bound_pct']:.2f} % "
            f"| {100 * (lst['value'] - a['value']) / lst['value']:.2f} % | {hyb_text} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 50, 100, 200, 500])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--anchor-limit", type=float, default=60.0, help="CP-SAT anchor seconds")
    parser.add_argument(
        "--hybrid-max", type=int, default=100, help="run hybrid up to this many jobs"
    )
    parser.add_argument(
        "--qubo-max", type=int, default=20, help="run the plain QUBO up to this many jobs"
    )
    parser.add_argument("--json", default=None, help="write rows and verdicts here")
    args = parser.parse_args()
    if any(n < 1 for n in args.sizes) or args.anchor_limit <= 0:
        parser.error("--sizes must be >= 1 and --anchor-limit > 0")
    rows = run(args.sizes, args.seed, args.anchor_limit, args.hybrid_max, args.qubo_max)
    result = {"rows": rows, "verdicts": verdicts(rows)}
    print(summary(rows))
    print()
    print(markdown(rows))
    print()
    print(json.dumps(result["verdicts"], indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
