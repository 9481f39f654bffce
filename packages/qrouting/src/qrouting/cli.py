"""``qrouting`` command line: ``route`` a token file, ``bench`` the routers, list ``routers``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from qrouting.errors import QroutingError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qrouting", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("route", help="route a JSON/CSV token list, write the plan as JSON")
    r.add_argument("tokens", help="token file (.json or .csv)")
    r.add_argument("--graph", help="model-graph JSON (experts, devices, hops, k, ...)")
    r.add_argument("--router", default="balanced")
    r.add_argument("-k", type=int, default=None)
    r.add_argument("--capacity-factor", type=float, default=None)
    r.add_argument("--on-overflow", choices=["drop", "raise"], default=None)
    r.add_argument("--out", help="write the plan JSON here (default: stdout summary only)")
    r.add_argument("--compare-exact", action="store_true", help="also report the gap to the LP")

    b = sub.add_parser("bench", help="route one Gaussian batch with every router, side by side")
    b.add_argument("--tokens", type=int, default=65_536)
    b.add_argument("--experts", type=int, default=64)
    b.add_argument("-k", type=int, default=2)
    b.add_argument("--capacity-factor", type=float, default=1.0)
    b.add_argument("--routers", default="topk,sinkhorn,balanced,expert_choice,bias,hash")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--no-exact", action="store_true", help="skip the HiGHS exact optimum")
    b.add_argument("--json", help="write the full result here")

    sub.add_parser("routers", help="list router names")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "routers":
            from qrouting.routers import list_routers

            print("\n".join(list_routers()))
        elif args.command == "route":
            from qrouting.loader import load_problem
            from qrouting.routers import route

            problem = load_problem(
                args.tokens,
                args.graph,
                k=args.k,
                capacity_factor=args.capacity_factor,
                on_overflow=args.on_overflow,
            )
            plan = route(problem, args.router, compare_exact=args.compare_exact)
            print(plan.summary())
            if args.out:
                plan.to_json(args.out)
                print(f"plan written to {args.out}")
        else:
            from qrouting.bench import format_table, run_benchmark

            result = run_benchmark(
                args.tokens,
                args.experts,
                args.k,
                args.capacity_factor,
                [r.strip() for r in args.routers.split(",") if r.strip()],
                args.repeats,
                args.seed,
                exact=not args.no_exact,
            )
            print(format_table(result))
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(result, fh, indent=2)
                print(f"results written to {args.json}")
    except QroutingError as exc:
        print(f"qrouting: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
