"""``qhpo``: check spaces and prior-trial files, list optimisers, run a quick benchmark.

qhpo space check FILE.{json,yaml}
qhpo warmstart check PRIOR.{csv,json} --space FILE [--unknown ignore] [--missing skip] ...
qhpo optimizers
qhpo bench --problem branin --optimizer gp --trials 50 --seeds 3
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from qcore.entrypoint import CliParser, entry_point

from qhpo.errors import InvalidTrial, QhpoError
from qhpo.minimize import minimize
from qhpo.optimizers import OPTIMIZERS
from qhpo.space import Categorical, Float, Int, load_space
from qhpo.testfunctions import PROBLEMS, get_problem
from qhpo.warmstart import load_prior

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise InvalidTrial(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise InvalidTrial(f"expected a positive integer, got {v}")
    return v


def _parser() -> CliParser:
    parser = CliParser(prog="qhpo", description="QuantumFlow hyperparameter search.")
    groups = parser.add_subparsers(dest="group", required=True)
    space = groups.add_parser("space", help="search-space files")
    space_cmd = space.add_subparsers(dest="command", required=True)
    check = space_cmd.add_parser("check", help="validate a space file and describe it")
    check.add_argument("file", type=Path, help="a .json, .yaml or .yml space")
    warm = groups.add_parser("warmstart", help="prior-trial files")
    warm_cmd = warm.add_subparsers(dest="command", required=True)
    wcheck = warm_cmd.add_parser("check", help="check prior trials against a space")
    wcheck.add_argument("file", type=Path, help="a .csv or .json of prior trials")
    wcheck.add_argument("--space", type=Path, required=True, help="the new study's space file")
    wcheck.add_argument("--unknown", choices=["error", "ignore"], default="error")
    wcheck.add_argument("--missing", choices=["error", "skip"], default="error")
    wcheck.add_argument("--outside", choices=["error", "skip"], default="error")
    groups.add_parser("optimizers", help="list optimiser names")
    bench = groups.add_parser("bench", help="median simple regret on a test function")
    bench.add_argument("--problem", choices=sorted(PROBLEMS), default="branin")
    bench.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="gp")
    bench.add_argument("--trials", type=_positive, default=50)
    bench.add_argument("--seeds", type=_positive, default=3)
    return parser


def _describe(p: object) -> str:
    if isinstance(p, Float | Int):
        kind = "float" if isinstance(p, Float) else "int"
        text = f"{kind} [{p.low}, {p.high}]" + (" log" if p.log else "")
    elif isinstance(p, Categorical):
        text = f"categorical {list(p.choices)}"
    else:  # pragma: no cover
        text = type(p).__name__
    cond = getattr(p, "condition", None)
    if cond is not None:
        text += f" if {cond[0]} in {list(cond[1])}"
    return text


@entry_point("qhpo", user_errors=(QhpoError,))
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.group == "optimizers":
        extra = {"vqc": " (extra: quantum)", "hybrid": " (extra: quantum)"}
        for name in OPTIMIZERS:
            print(name + extra.get(name, ""))
        return 0
    if args.group == "space":
        space = load_space(args.file)
        print(f"{args.file}: {len(space)} parameters, {space.n_features} GP features")
        for p in space.params:
            print(f"  {p.name}: {_describe(p)}")
        return 0
    if args.group == "warmstart":
        space = load_space(args.space)
        report = load_prior(
            args.file, space, unknown=args.unknown, missing=args.missing, outside=args.outside
        )
        print(f"{args.file}: {len(report.trials)} usable trials ({report.n_failed} failed)")
        if report.ignored_params:
            print(f"  ignored parameters: {report.ignored_params}")
        for row in report.skipped_rows:
            print(f"  skipped {row}")
        return 0
    problem = get_problem(args.problem)
    regrets, times = [], []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        result = minimize(problem, problem.space, args.trials, args.optimizer, seed=seed)
        times.append((time.perf_counter() - t0) / args.trials)
        regrets.append(problem.regret(result.best_value))
    print(
        f"{args.problem} {args.optimizer} trials={args.trials} seeds={args.seeds}: "
        f"median regret {np.median(regrets):.4g}, mean s/trial {np.mean(times):.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
