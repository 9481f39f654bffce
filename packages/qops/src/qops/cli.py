"""``qops``: the NAB benchmark from the command line.

qops nab detectors
qops nab run --detector default [--out DIR] [--nab-root DIR] [--files REL ...]
qops nab score DIR/<detector> [--nab-root DIR]
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from qcore.entrypoint import CliParser, entry_point

from qops.detectors.registry import detector_names, make_detector, resolve_name
from qops.errors import QopsError
from qops.nab.corpus import load_corpus, read_results, require_nab_root
from qops.nab.runner import run_detector, write_results
from qops.nab.scorer import ProfileScore, category_breakdown, score_corpus

__all__ = ["main"]


def _parser() -> CliParser:
    parser = CliParser(prog="qops", description="QuantumFlow operations tools.")
    groups = parser.add_subparsers(dest="group", required=True)
    nab = groups.add_parser("nab", help="Numenta Anomaly Benchmark: run detectors, score results")
    commands = nab.add_subparsers(dest="command", required=True)
    commands.add_parser("detectors", help="list detector names")
    run = commands.add_parser("run", help="run a detector over the corpus, write and score it")
    run.add_argument("--detector", required=True, help="a name from `qops nab detectors`")
    run.add_argument("--out", type=Path, default=Path("nab-results"), help="results folder")
    run.add_argument(
        "--files",
        nargs="+",
        metavar="CATEGORY/FILE.csv",
        help="only these data files (default: all 58)",
    )
    score = commands.add_parser("score", help="score a results folder DIR/<detector>")
    score.add_argument("results", type=Path, help="DIR/<detector> in NAB's layout")
    score.add_argument(
        "--breakdown",
        action="store_true",
        help="also print windows hit and false positives per category (standard profile)",
    )
    score.add_argument(
        "--files",
        nargs="+",
        metavar="CATEGORY/FILE.csv",
        help="only these data files (default: all 58)",
    )
    for command in (run, score):
        command.add_argument(
            "--nab-root",
            type=Path,
            default=None,
            help="NAB folder with data/ and labels/ (default: $QOPS_NAB_ROOT, "
            "else shared/data/nab beside the checkout)",
        )
    return parser


def _print_scores(scores: dict[str, ProfileScore]) -> None:
    for name, result in scores.items():
        print(f"{name}: {result.score:.2f}")


@entry_point("qops", user_errors=(QopsError,))
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "detectors":
        for name in detector_names():
            print(name + (f" (= {resolve_name(name)})" if name == "default" else ""))
        return 0
    if args.command == "run":
        name = resolve_name(args.detector)  # unknown names fail before any file is read
        corpus = load_corpus(require_nab_root(args.nab_root), only=args.files)
        run = run_detector(name, partial(make_detector, name), corpus, progress=sys.stderr)
        folder = write_results(args.out, run, corpus)
        print(f"results: {folder}")
        print(f"points_per_second: {run.points_per_second:.0f}")
        _print_scores(score_corpus(corpus, run.scores))
        return 0
    corpus = load_corpus(require_nab_root(args.nab_root), only=args.files)
    results = read_results(args.results, corpus)
    scores = score_corpus(corpus, results)
    _print_scores(scores)
    if args.breakdown:
        threshold = scores["standard"].threshold
        for row in category_breakdown(corpus, results, threshold):
            print(
                f"  {row.category}: windows {row.windows_detected}/{row.windows}, "
                f"false positives {row.false_positives} (cost {row.false_positive_cost:.1f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
