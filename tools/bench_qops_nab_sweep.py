"""Every kNN configuration tried while building ``default``, scored on all 58 NAB files.

    uv run python tools/bench_qops_nab_sweep.py [--only N ...] [--nab-root DIR]

The chosen default (``multiscale_knn``) was picked among these by its standard-profile score
on the whole corpus, so the selection itself looked at the labels' scores, as choosing any
published NAB detector's parameters does; the list is printed in full, in the order tried,
so the selection effect is visible. No configuration changes per file, and none is fitted
to labels. Slow (a few minutes per configuration on two cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qcore.entrypoint import CliParser, entry_point
from qops.detectors import KnnConformalDetector, MultiScaleKnnDetector
from qops.errors import QopsError
from qops.nab.corpus import load_corpus, require_nab_root
from qops.nab.runner import run_detector
from qops.nab.scorer import score_corpus

# (label, factory), in the order they were tried
K = KnnConformalDetector
M = MultiScaleKnnDetector
OLD = {"reference": 600, "calibration": 300, "gate": 0.0}  # the first defaults
CONFIGS: list[tuple[str, object]] = [
    ("knn ref=600 cal=300 alarm=0.99", lambda c: K(c, **OLD)),
    ("knn ref=600 cal=300 alarm=0.95", lambda c: K(c, **OLD, alarm_level=0.95)),
    (
        "knn ref=600 cal=600 alarm=0.98",
        lambda c: K(c, **{**OLD, "calibration": 600}, alarm_level=0.98),
    ),
    ("knn ref=600 cal=300 alarm=0.95 dim=5", lambda c: K(c, **OLD, alarm_level=0.95, dim=5)),
    (
        "knn ref=600 cal=300 alarm=0.95 dim=20 k=10",
        lambda c: K(c, **OLD, alarm_level=0.95, dim=20, k=10),
    ),
    (
        "knn ref=600 cal=300 alarm=0.95 rest=prob/2",
        lambda c: K(c, **OLD, alarm_level=0.95, rest=c.probationary // 2),
    ),
    ("knn ref=3000 cal=1000", lambda c: K(c, gate=0)),
    (
        "knn ref=3000 cal=3000 alarm=0.995",
        lambda c: K(c, calibration=3000, alarm_level=0.995, gate=0),
    ),
    (
        "knn ref=3000 cal=3000 alarm=0.995 k=1",
        lambda c: K(c, calibration=3000, alarm_level=0.995, k=1, gate=0),
    ),
    (
        "knn record-rule ref=3000 cal=3000",
        lambda c: K(c, rule="record", alarm_level=0.5, calibration=3000, gate=0),
    ),
    ("knn record-rule ref=3000 cal=1000", lambda c: K(c, rule="record", alarm_level=0.5, gate=0)),
    ("knn ref=3000 cal=1000 gate=3 (knn_conformal)", lambda c: K(c)),
    ("knn ref=3000 cal=1000 gate=3 alarm=0.9", lambda c: K(c, alarm_level=0.9)),
    ("knn ref=3000 cal=1000 smooth=3", lambda c: K(c, smooth=3, gate=0)),
    ("knn ref=3000 cal=1000 dim=20", lambda c: K(c, dim=20, gate=0)),
    ("multiscale (1,8) ref=3000 cal=1000", lambda c: M(c, gate=0)),
    ("knn ref=3000 cal=1000 gate=5", lambda c: K(c, gate=5)),
    ("multiscale (1,8) gate=3 (multiscale_knn, default)", lambda c: M(c)),
    ("multiscale (1,4,16) gate=3", lambda c: M(c, scales=(1, 4, 16))),
    (
        "multiscale (1,8) gate=3 cal=2000 alarm=0.995",
        lambda c: M(c, calibration=2000, alarm_level=0.995),
    ),
    ("multiscale (1,8) gate=2", lambda c: M(c, gate=2)),
    (
        "multiscale (1,8) gate=3 rest=max(prob/5, n/40)",
        lambda c: M(c, rest=max(c.probationary // 5, c.length // 40)),
    ),
]


@entry_point("bench_qops_nab_sweep", user_errors=(QopsError,))
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(
        prog="bench_qops_nab_sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", type=int, nargs="+", help="1-based row numbers to run")
    parser.add_argument("--nab-root", type=Path, default=None)
    args = parser.parse_args(argv)
    root = require_nab_root(args.nab_root)
    corpus = load_corpus(root)
    print("| # | configuration | standard | reward_low_FP_rate | reward_low_FN_rate |")
    print("|---|---|---|---|---|")
    for number, (label, factory) in enumerate(CONFIGS, start=1):
        if args.only and number not in args.only:
            continue
        run = run_detector(label, factory, corpus)  # type: ignore[arg-type]
        scores = score_corpus(corpus, run.scores)
        cells = " | ".join(f"{s.score:.1f}" for s in scores.values())
        print(f"| {number} | {label} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
