"""Every qops detector (or those named) over NAB's 58 files: the three profile scores and
points/second, as the Markdown rows of docs/benchmarks.md.

    uv run python tools/bench_qops_nab.py [--detectors NAME ...] [--out bench-results/nab]

Same as ``qops nab run --detector NAME --out DIR`` for each name; results stay in NAB's
layout under ``--out`` (re-score any of them with ``qops nab score DIR/<name>``), and a JSON
summary is written to ``--out/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from qcore.entrypoint import CliParser, entry_point
from qops.detectors.registry import detector_names, make_detector, resolve_name
from qops.errors import QopsError
from qops.nab.corpus import load_corpus, require_nab_root
from qops.nab.runner import run_detector, write_results
from qops.nab.scorer import score_corpus


@entry_point("bench_qops_nab", user_errors=(QopsError,))
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(
        prog="bench_qops_nab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--detectors", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/nab"))
    parser.add_argument("--nab-root", type=Path, default=None)
    args = parser.parse_args(argv)
    names = [resolve_name(n) for n in (args.detectors or detector_names()[1:])]
    root = require_nab_root(args.nab_root)
    corpus = load_corpus(root)
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    print("| detector | standard | reward_low_FP_rate | reward_low_FN_rate | points/s |")
    print("|---|---|---|---|---|")
    for name in names:
        run = run_detector(name, partial(make_detector, name), corpus, progress=sys.stderr)
        write_results(args.out, run, corpus)
        scores = score_corpus(corpus, run.scores)
        summary[name] = {
            "scores": {p: s.score for p, s in scores.items()},
            "thresholds": {p: s.threshold for p, s in scores.items()},
            "points_per_second": run.points_per_second,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=2))
        cells = " | ".join(f"{scores[p].score:.1f}" for p in scores)
        print(f"| {name} | {cells} | {run.points_per_second:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
