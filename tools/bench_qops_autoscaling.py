"""Reactive HPA vs HPA + Holt-Winters forecast, replayed on NAB's real load shapes.

    uv run python tools/bench_qops_autoscaling.py [--nab-root DIR] [--png docs/qops-autoscaling.png]

Each trace is scaled so its peak needs 20 replicas at the 70 % utilisation target. A replica
takes ``--startup-steps`` steps to become ready. Prints one Markdown table row per trace and
per scaler (SLO violations, replica-hours, peak replicas) and writes a PNG of the first trace.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from qcore.entrypoint import CliParser, entry_point
from qops.errors import MalformedNabDirectory, MissingExtra, QopsError
from qops.nab.corpus import read_series, require_nab_root
from qops.scaling.simulator import capacity_for_peak, compare_scalers

# (NAB file, steps per day): load-like series with a daily season
TRACES = [
    ("realKnownCause/nyc_taxi.csv", 48),
    ("realAWSCloudwatch/elb_request_count_8c0756.csv", 288),
    ("realTraffic/occupancy_6005.csv", 96),
    ("realAWSCloudwatch/ec2_network_in_257a54.csv", 288),
]
TARGET = 0.7
PEAK_REPLICAS = 20


def plot(png: Path, name: str, load: np.ndarray, capacity: float, results: tuple) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra(
            "matplotlib is needed for the plot: pip install 'qops[plot]' "
            "(or uv sync --all-packages --all-extras)"
        ) from None
    shown = slice(0, min(load.size, 7 * 48 if "nyc" in name else 3 * 288))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(load[shown] / capacity, color="black", lw=1, label="load (replicas needed at 100 %)")
    for result, colour in zip(results, ("tab:red", "tab:blue"), strict=True):
        top.step(
            np.arange(load.size)[shown],
            result.ready[shown],
            where="post",
            color=colour,
            lw=1.2,
            label=f"{result.name}: ready replicas",
        )
        short = load[shown] > capacity * result.ready[shown]
        bottom.plot(
            np.flatnonzero(short),
            np.full(short.sum(), 0 if colour == "tab:red" else 1),
            "|",
            color=colour,
            ms=12,
            label=f"{result.name}: SLO violation",
        )
    top.set_ylabel("replicas")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"{name}: reactive HPA vs Holt-Winters forecast scaling")
    bottom.set_yticks([0, 1], ["reactive", "predictive"])
    bottom.set_ylim(-0.5, 1.5)
    bottom.set_xlabel("step")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


@entry_point("bench_qops_autoscaling", user_errors=(QopsError,))
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(
        prog="bench_qops_autoscaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nab-root", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=Path("docs/qops-autoscaling.png"))
    parser.add_argument("--startup-steps", type=int, default=2)
    parser.add_argument(
        "--traces", nargs="+", metavar="CATEGORY/FILE.csv", help="only these of the built-in traces"
    )
    args = parser.parse_args(argv)
    root = require_nab_root(args.nab_root)
    print("| trace | steps | scaler | SLO violations | replica-hours | peak replicas |")
    print("|---|---|---|---|---|---|")
    chosen = [t for t in TRACES if not args.traces or t[0] in args.traces]
    if args.traces and len(chosen) != len(args.traces):
        known = ", ".join(rel for rel, _ in TRACES)
        raise MalformedNabDirectory(f"traces: choose among {known}.")
    for index, (rel, season) in enumerate(chosen):
        series = read_series(root / "data" / rel, rel)
        load = series.values
        step = float(np.median(np.diff(series.timestamps).astype(np.int64)))
        capacity = capacity_for_peak(load, PEAK_REPLICAS, TARGET)
        started = time.perf_counter()
        results = compare_scalers(
            load,
            capacity,
            season,
            step_seconds=step,
            startup_steps=args.startup_steps,
            target_utilisation=TARGET,
        )
        for r in results:
            print(
                f"| {rel} | {r.steps} | {r.name} | {r.slo_violations} "
                f"({100 * r.violation_rate:.2f} %) | {r.replica_hours:.0f} | {r.peak_replicas} |"
            )
        print(
            f"[{index + 1}/{len(TRACES)}] {rel}: {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        if index == 0:
            plot(args.png, rel, load, capacity, results)
    print(f"plot: {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
