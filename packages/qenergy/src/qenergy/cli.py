"""The ``qenergy`` command line.

qenergy generate --jobs N [--seed S] --out jobs.csv [--cluster-out cluster.json]
qenergy schedule jobs.csv (--cluster cluster.json | --gpus G --budget-w W [--idle-w I])
        [--method auto] [--objective peak] [--caps 0.85,0.7] [--time-limit S] [--seed S]
        [--out schedule.csv] [--json schedule.json] [--profile profile.csv] [--plot power.png]
qenergy check jobs.csv schedule.csv (--cluster cluster.json | --gpus G --budget-w W)
qenergy telemetry FILE [--format auto|nvidia-smi|prometheus|query_range|dmon]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from qcore.entrypoint import CliParser, entry_point

from qenergy.checker import check_schedule
from qenergy.cluster import Cluster
from qenergy.errors import InvalidCluster, InvalidParameter, QenergyError
from qenergy.generator import generate_instance
from qenergy.jobs import load_jobs
from qenergy.schedule import METHODS, OBJECTIVES, schedule
from qenergy.telemetry import load_telemetry, summarize

__all__ = ["main"]


def _cluster_args(p: CliParser) -> None:
    p.add_argument(
        "--cluster", type=Path, help="cluster JSON: {gpus, power_budget_w, idle_w_per_gpu}"
    )
    p.add_argument("--gpus", type=int, help="GPUs in the cluster (instead of --cluster)")
    p.add_argument("--budget-w", type=float, help="power budget in watts (instead of --cluster)")
    p.add_argument("--idle-w", type=float, default=75.0, help="idle watts per GPU (default 75)")


def _parser() -> CliParser:
    parser = CliParser(
        prog="qenergy", description="GPU job power: prediction and power-capped scheduling."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a generated job table and cluster")
    gen.add_argument("--jobs", type=int, required=True, help="number of jobs")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", type=Path, required=True, help="job table (.csv or .json)")
    gen.add_argument("--cluster-out", type=Path, help="cluster JSON")
    sch = sub.add_parser("schedule", help="schedule a job table under the power budget")
    sch.add_argument("jobs", type=Path, help="job table (.csv or .json)")
    _cluster_args(sch)
    sch.add_argument("--method", default="auto", choices=METHODS)
    sch.add_argument("--objective", default="peak", choices=OBJECTIVES)
    sch.add_argument("--caps", default="", help="cap fractions of each job's draw, e.g. 0.85,0.7")
    sch.add_argument("--time-limit", type=float, default=None, help="seconds for the solver part")
    sch.add_argument("--seed", type=int, default=0)
    sch.add_argument("--out", type=Path, help="schedule CSV")
    sch.add_argument("--json", type=Path, help="schedule JSON (summary and jobs)")
    sch.add_argument("--profile", type=Path, help="power profile CSV (time_s, power_w, gpus)")
    sch.add_argument("--plot", type=Path, help="PNG of power over time vs the budget")
    chk = sub.add_parser("check", help="check a schedule CSV against the jobs and the cluster")
    chk.add_argument("jobs", type=Path)
    chk.add_argument("schedule", type=Path)
    _cluster_args(chk)
    tel = sub.add_parser(
        "telemetry", help="read telemetry and print per-GPU mean/peak power and energy"
    )
    tel.add_argument("file", type=Path)
    tel.add_argument(
        "--format",
        default="auto",
        choices=["auto", "nvidia-smi", "prometheus", "query_range", "dmon"],
    )
    return parser


def _cluster(args: object) -> Cluster:
    path = getattr(args, "cluster", None)
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise InvalidCluster(f"cluster: {path} is not valid JSON ({exc.msg}).") from None
        return Cluster.from_dict(data)
    gpus, budget = getattr(args, "gpus", None), getattr(args, "budget_w", None)
    if gpus is None or budget is None:
        raise InvalidCluster("cluster: pass --cluster FILE, or both --gpus and --budget-w.")
    return Cluster(gpus=gpus, power_budget_w=budget, idle_w_per_gpu=getattr(args, "idle_w", 75.0))


def _caps(text: str) -> tuple[float, ...]:
    if not text.strip():
        return ()
    try:
        return tuple(float(c) for c in text.split(","))
    except ValueError:
        raise InvalidParameter(
            f"--caps: {text!r}; give fractions separated by commas, e.g. 0.85,0.7."
        ) from None


@entry_point("qenergy", user_errors=(QenergyError,))
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        jobs, cluster = generate_instance(args.jobs, seed=args.seed)
        if args.out.suffix.lower() == ".json":
            args.out.write_text(jobs.to_json(orient="records", indent=1))
        else:
            jobs.to_csv(args.out, index=False)
        if args.cluster_out is not None:
            args.cluster_out.write_text(json.dumps(cluster.to_dict(), indent=1))
        print(
            f"jobs: {args.out} ({len(jobs)} jobs); cluster: {cluster.gpus} GPUs, "
            f"budget {cluster.power_budget_w:g} W"
        )
        return 0
    if args.command == "schedule":
        cluster = _cluster(args)
        result = schedule(
            args.jobs,
            cluster,
            method=args.method,
            objective=args.objective,
            seed=args.seed,
            time_limit=args.time_limit,
            caps=_caps(args.caps),
        )
        if args.out is not None:
            result.to_csv(args.out)
        if args.json is not None:
            result.to_json(args.json)
        if args.profile is not None:
            result.power_profile().to_csv(args.profile, index=False)
        if args.plot is not None:
            from qenergy.plot import plot_power

            plot_power(result, args.plot)
        for key, value in result.summary().items():
            print(f"{key}: {value}")
        return 0 if result.feasible else 1
    if args.command == "check":
        cluster = _cluster(args)
        jobs = load_jobs(args.jobs)
        frame = pd.read_csv(args.schedule)
        report = check_schedule(jobs, cluster, frame)
        print(f"feasible: {report.feasible}")
        print(f"peak_w: {report.peak_w:.1f}")
        for line in report.violations:
            print(f"violation: {line}")
        return 0 if report.feasible else 1
    frame = load_telemetry(args.file, fmt=args.format)
    print(summarize(frame).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
