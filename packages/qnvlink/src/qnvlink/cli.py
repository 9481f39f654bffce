"""The ``qnvlink`` command line.

qnvlink fabric dgx-h100 --nodes 4 --topology rail --out fabric.json   (or .xml)
qnvlink info fabric.json
qnvlink traffic 3d --pp 2 --tp 8 --dp 2 --out job.npy                  (ring, tree, a2a, halo)
qnvlink map --fabric fabric.json --traffic job.npy --method best --out plan/ [--schedule
    bipartite] [--plot plan/load.png] [--slow U V FACTOR | --down U V]
qnvlink schedule --traffic job.npy --method misra-gries --out rounds.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from qcore.entrypoint import CliParser, entry_point

from qnvlink.builders import BUILDERS, build
from qnvlink.errors import InvalidFabric, QnvlinkError
from qnvlink.exports import write_outputs
from qnvlink.fabric import Fabric
from qnvlink.fabric_io import read_fabric, write_fabric
from qnvlink.mapping import METHODS, map_ranks
from qnvlink.schedule import SCHEDULERS, schedule_rounds
from qnvlink.traffic import (
    all_to_all,
    halo,
    parallel_3d,
    read_traffic,
    ring_allreduce,
    tree_allreduce,
    write_traffic,
)

__all__ = ["main"]


def _parser() -> CliParser:
    parser = CliParser(prog="qnvlink", description="Map a job's ranks onto a GPU fabric.")
    commands = parser.add_subparsers(dest="command", required=True)

    fab = commands.add_parser("fabric", help="write a built-in fabric as JSON or NCCL XML")
    fab.add_argument("builder", choices=sorted(BUILDERS))
    fab.add_argument("--nodes", type=int, default=1, help="boxes/racks joined by InfiniBand")
    fab.add_argument("--topology", choices=["rail", "fat-tree"], default="rail")
    fab.add_argument("--out", type=Path, required=True, help="FILE.json or FILE.xml")

    info = commands.add_parser("info", help="summarise a fabric file")
    info.add_argument("fabric", type=Path)

    traffic = commands.add_parser("traffic", help="generate a traffic matrix (.npy/.csv/.json)")
    traffic.add_argument("kind", choices=["ring", "tree", "a2a", "3d", "halo"])
    traffic.add_argument("--ranks", type=int, default=8)
    traffic.add_argument("--bytes", type=float, default=1e9, dest="nbytes")
    traffic.add_argument("--pp", type=int, default=1)
    traffic.add_argument("--tp", type=int, default=8)
    traffic.add_argument("--dp", type=int, default=1)
    traffic.add_argument("--order", default="tp,dp,pp")
    traffic.add_argument("--grid", type=int, nargs="+", default=[2, 4])
    traffic.add_argument("--out", type=Path, required=True)

    plan = commands.add_parser("map", help="place ranks, print metrics, write launcher files")
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument("--fabric", type=Path, help="fabric JSON or NCCL XML")
    source.add_argument("--builder", choices=sorted(BUILDERS))
    plan.add_argument("--nodes", type=int, default=1)
    plan.add_argument("--topology", choices=["rail", "fat-tree"], default="rail")
    plan.add_argument("--traffic", type=Path, required=True)
    plan.add_argument("--method", choices=METHODS, default="best")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument("--solver", default="auto", help="qcore solver for --method qubo")
    plan.add_argument("--out", type=Path, help="folder for rankmap.json, rankfile, ...")
    plan.add_argument("--schedule", choices=SCHEDULERS, help="also write schedule.json")
    plan.add_argument("--plot", type=Path, help="PNG of link load (needs qnvlink[plot])")
    plan.add_argument("--down", nargs=2, metavar=("U", "V"), help="plan with link U-V down")
    plan.add_argument(
        "--slow", nargs=3, metavar=("U", "V", "FACTOR"), help="plan with U-V at FACTOR x"
    )

    sched = commands.add_parser("schedule", help="split transfers into rounds (edge colouring)")
    sched.add_argument("--traffic", type=Path, required=True)
    sched.add_argument("--method", choices=SCHEDULERS, default="bipartite")
    sched.add_argument("--solver", default="exact", help="qcore solver for --method qubo")
    sched.add_argument("--out", type=Path)
    return parser


def _fabric(args: argparse.Namespace) -> Fabric:
    if args.fabric is not None:
        fabric = read_fabric(args.fabric)
    else:
        fabric = build(args.builder, args.nodes, args.topology)
    if args.down:
        u, v = args.down
        fabric = fabric.with_link(u, v, down=True)
    if args.slow:
        u, v, factor = args.slow
        try:
            scale = float(factor)
        except ValueError:
            raise InvalidFabric(f"slow: FACTOR is {factor!r}; give a number in (0, 1].") from None
        fabric = fabric.with_link(u, v, factor=scale)
    return fabric


def _traffic(args: argparse.Namespace) -> np.ndarray:
    kind = args.kind
    if kind == "ring":
        return ring_allreduce(args.ranks, args.nbytes)
    if kind == "tree":
        return tree_allreduce(args.ranks, args.nbytes)
    if kind == "a2a":
        return all_to_all(args.ranks, args.nbytes)
    if kind == "halo":
        return halo(tuple(args.grid), args.nbytes)
    return parallel_3d(args.pp, args.tp, args.dp, order=args.order)


@entry_point("qnvlink", user_errors=(QnvlinkError,))
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fabric":
        fabric = build(args.builder, args.nodes, args.topology)
        print(f"wrote {write_fabric(fabric, args.out)}: {fabric!r}")
        return 0
    if args.command == "info":
        fabric = read_fabric(args.fabric)
        print(repr(fabric))
        hosts, nics, numa = len(fabric.hosts()), len(fabric.nics), len(fabric.numa_nodes)
        print(f"hosts: {hosts}  nics: {nics}  numa: {numa}")
        return 0
    if args.command == "traffic":
        matrix = _traffic(args)
        print(f"wrote {write_traffic(matrix, args.out)}: {len(matrix)} ranks")
        return 0
    if args.command == "schedule":
        schedule = schedule_rounds(read_traffic(args.traffic), args.method, solver=args.solver)
        print(f"rounds: {schedule.num_rounds}  delta: {schedule.delta}")
        if args.out:
            matrix = read_traffic(args.traffic)
            args.out.write_text(json.dumps(schedule.to_dict(matrix), indent=1))
        return 0
    fabric = _fabric(args)
    matrix = read_traffic(args.traffic)
    plan = map_ranks(fabric, matrix, args.method, seed=args.seed, solver=args.solver)
    m = plan.metrics
    print(
        f"method: {plan.method}"
        + (f" (winner {plan.info['winner']})" if "winner" in plan.info else "")
    )
    print(f"simulated_ms: {m.sim_time_s * 1e3:.3f}")
    print(f"max_congestion_ms: {m.max_congestion_s * 1e3:.3f} on {m.busiest_link}")
    print(f"lower_bound_ms: {m.lower_bound_s * 1e3:.3f}")
    print(f"hop_bytes: {m.hop_bytes:.4g}")
    print(f"plan_s: {plan.wall_s:.3f}")
    if args.out:
        schedule = schedule_rounds(matrix, args.schedule) if args.schedule else None
        for path in write_outputs(plan, args.out, schedule):
            print(f"wrote {path}")
    if args.plot:
        from qnvlink.plot import plot_link_load

        print(f"wrote {plot_link_load(plan, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
