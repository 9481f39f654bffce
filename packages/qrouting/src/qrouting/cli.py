"""``qrouting`` command line: ``route`` a token file, ``bench`` the routers, list ``routers``.

Built on qcore's shared entry point: bad input ends in one line on stderr naming the field
and the fix, with exit code 2; every argument and output path is checked before any work.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from qcore.entrypoint import CliParser, entry_point

from qrouting.errors import InvalidRouting, QroutingError

# the benchmark's [tokens, experts] matrices, several copies at 8 bytes an entry
MAX_BENCH_ENTRIES = 20_000_000


def _parser() -> CliParser:
    p = CliParser(prog="qrouting", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("route", help="route a JSON/CSV token list, write the plan as JSON")
    r.add_argument("tokens", help="token file (.json or .csv)")
    r.add_argument("--graph", help="model-graph JSON (experts, devices, hops, k, ...)")
    r.add_argument("--router", default="balanced")
    r.add_argument("-k", type=int, default=None)
    r.add_argument("--capacity-factor", type=float, default=None)
    r.add_argument("--on-overflow", choices=["drop", "raise"], default=None)
    r.add_argument("--out", help="write the plan JSON here (default: stdout summary only)")
    r.add_argument(
        "--compare-exact", action="store_true", help="also report the optimum and the gap to it"
    )

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


def check_output(option: str, value: str | None) -> Path | None:
    """An output path that can be written, checked before any work is done."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise InvalidRouting(f"{option} {value}: is a folder; name a file inside it.")
    if not path.parent.is_dir():
        raise InvalidRouting(
            f"{option} {value}: the folder {path.parent} does not exist; create it first."
        )
    return path


def _write(option: str, path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise InvalidRouting(f"{option} {path}: cannot write it ({exc.strerror}).") from None


def _bench_arguments(args: argparse.Namespace) -> list[str]:
    from qrouting.routers import list_routers

    for option, value in (("--tokens", args.tokens), ("--experts", args.experts)):
        if value < 1:
            raise InvalidRouting(f"{option} {value}: pass a positive count.")
    if args.tokens * args.experts > MAX_BENCH_ENTRIES:
        raise InvalidRouting(
            f"--tokens {args.tokens} --experts {args.experts}: {args.tokens * args.experts:,} "
            f"scores exceed the benchmark's limit of {MAX_BENCH_ENTRIES:,}; use fewer."
        )
    if not 1 <= args.k <= args.experts:
        raise InvalidRouting(f"-k {args.k}: pass 1 <= k <= --experts ({args.experts}).")
    if not (math.isfinite(args.capacity_factor) and args.capacity_factor > 0):
        raise InvalidRouting(f"--capacity-factor {args.capacity_factor}: pass a number > 0.")
    if not 1 <= args.repeats <= 1000:
        raise InvalidRouting(f"--repeats {args.repeats}: pass a count from 1 to 1000.")
    if args.seed < 0:
        raise InvalidRouting(f"--seed {args.seed}: pass an integer >= 0.")
    routers = [r.strip() for r in args.routers.split(",") if r.strip()]
    unknown = [r for r in routers if r not in list_routers()]
    if not routers or unknown:
        raise InvalidRouting(
            f"--routers {args.routers!r}: {'unknown ' + ', '.join(unknown) if unknown else 'none'}"
            f"; choose from {', '.join(list_routers())}."
        )
    return routers


@entry_point("qrouting", user_errors=(QroutingError,))
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "routers":
        from qrouting.routers import list_routers

        print("\n".join(list_routers()))
    elif args.command == "route":
        from qrouting.loader import load_problem
        from qrouting.routers import get_router, route

        out = check_output("--out", args.out)
        policy = get_router(args.router)  # an unknown name fails before the files are read
        problem = load_problem(
            args.tokens,
            args.graph,
            k=args.k,
            capacity_factor=args.capacity_factor,
            on_overflow=args.on_overflow,
        )
        plan = route(problem, policy, compare_exact=args.compare_exact)
        print(plan.summary())
        if args.compare_exact:
            m = plan.metrics
            print(
                f"exact optimum={m['optimum']:.6g} (HiGHS LP) "
                f"gap_to_optimum={m['gap_to_optimum']:.3e}"
            )
        if out is not None:
            _write("--out", out, plan.to_json())
            print(f"plan written to {out}")
    else:
        from qrouting.bench import format_table, run_benchmark

        routers = _bench_arguments(args)
        out = check_output("--json", args.json)
        result = run_benchmark(
            args.tokens,
            args.experts,
            args.k,
            args.capacity_factor,
            routers,
            args.repeats,
            args.seed,
            exact=not args.no_exact,
        )
        print(format_table(result))
        if out is not None:
            _write("--json", out, json.dumps(result, indent=2))
            print(f"results written to {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
