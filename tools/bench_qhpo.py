"""qhpo's optimisers beside Optuna's samplers, in one run, on the standard test functions.

Median simple regret (best value found minus the known minimum) at checkpoints (default 50
and 100 evaluations) over seeds 0..S-1, and the optimiser's own time per suggestion over the
last ten trials (the objective's time excluded), as a ratio against Optuna's GPSampler from
the same run. Cost is the process's CPU time (``time.process_time``), not wall time: the
machine is shared, and wall time measured the other users' load more than the samplers.

    nice -n 10 uv run --frozen python tools/bench_qhpo.py --seeds 5 --trials 100 \
        --out bench-qhpo.json --markdown

Every BLAS/torch pool is set to one thread before numpy or torch is imported, for both sides.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import qhpo  # noqa: E402
from qhpo.testfunctions import PROBLEMS, Problem  # noqa: E402

OPTUNA = {"optuna-gp": "GPSampler", "optuna-tpe": "TPESampler", "optuna-random": "RandomSampler"}
QHPO = ("gp", "vqc", "hybrid", "random", "sobol")


def run_qhpo(
    problem: Problem, name: str, seed: int, trials: int
) -> tuple[list[float], list[float]]:
    # the ask/tell loop of qhpo.minimize, timed in CPU seconds like the Optuna side
    # (minimize's own suggest_seconds are wall time, which measures the machine's load)
    study = qhpo.Study(problem.space, name, seed)
    times: list[float] = []
    for _ in range(trials):
        t0 = time.process_time()
        trial = study.ask()
        times.append(time.process_time() - t0)
        study.tell(trial, problem(dict(trial.params)))
    values = [t.value if t.value is not None else np.inf for t in study.trials]
    return values, times


def run_optuna(
    problem: Problem, name: str, seed: int, trials: int
) -> tuple[list[float], list[float]]:
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = getattr(optuna.samplers, OPTUNA[name])(seed=seed)
    study = optuna.create_study(sampler=sampler)
    times: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        t0 = time.process_time()
        config = {
            p.name: trial.suggest_float(p.name, p.low, p.high)  # type: ignore[attr-defined]
            for p in problem.space.params
        }
        times.append(time.process_time() - t0)  # the sampler works inside suggest_*
        return problem(config)

    study.optimize(objective, n_trials=trials)
    return [t.value for t in study.trials], times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=["gp", "optuna-gp", "optuna-tpe", "random"],
        choices=[*QHPO, *OPTUNA],
    )
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (the issue asks 20)")
    parser.add_argument("--seed-start", type=int, default=0, help="first seed (to continue a run)")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        default=None,
        help="only print the table of runs saved by earlier --out files (merged)",
    )
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100])
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON of every run (rewritten as runs finish)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    if args.from_json:
        runs = [r for f in args.from_json for r in json.loads(f.read_text())["runs"]]
        for r in runs:
            r["regret"] = {int(c): v for c, v in r["regret"].items()}
            r.setdefault("trials", max(r["regret"]))
        print(table(runs, args.checkpoints))
        return 0
    if args.seeds < 1 or args.trials < max(args.checkpoints):
        parser.error("--seeds must be >= 1 and --trials >= the largest checkpoint")
    runs: list[dict] = []
    # seeds outermost: a run cut short still has every problem and sampler for its seeds
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        for pname in args.problems:
            problem = PROBLEMS[pname]
            for sname in args.samplers:
                runner = run_optuna if sname in OPTUNA else run_qhpo
                t0 = time.perf_counter()
                values, times = runner(problem, sname, seed, args.trials)
                wall = time.perf_counter() - t0
                best = np.minimum.accumulate(np.asarray(values, dtype=float))
                regret = {c: problem.regret(best[c - 1]) for c in args.checkpoints}
                runs.append(
                    {
                        "problem": pname,
                        "sampler": sname,
                        "seed": seed,
                        "trials": args.trials,
                        "regret": regret,
                        "suggest_cpu_s_last10": float(np.mean(times[-10:])),
                        "suggest_cpu_s_all": float(np.mean(times)),
                        "wall_s": wall,
                    }
                )
                print(
                    f"{pname} {sname} seed={seed} "
                    + " ".join(f"r@{c}={r:.4g}" for c, r in regret.items())
                    + f" cpu s/sugg(last10)={np.mean(times[-10:]):.4f} wall={wall:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
                if args.out is not None:
                    args.out.write_text(
                        json.dumps(
                            {"args": vars(args) | {"out": str(args.out)}, "runs": runs}, indent=1
                        )
                    )
    print(table(runs, args.checkpoints) if args.markdown else json.dumps(runs))
    return 0


def table(runs: list[dict], checkpoints: list[int]) -> str:
    head = (
        "| problem | sampler | seeds | "
        + " | ".join(f"median regret @{c}" for c in checkpoints)
        + " | median CPU s/suggestion (last 10) | CPU cost vs optuna-gp | wall s/trial (all) |"
    )
    lines = [head, "|" + "---|" * (6 + len(checkpoints))]
    for pname in dict.fromkeys(r["problem"] for r in runs):
        rows = [r for r in runs if r["problem"] == pname]
        # only runs timed in CPU seconds enter the cost columns (early runs recorded wall time)
        ref = [
            r["suggest_cpu_s_last10"]
            for r in rows
            if r["sampler"] == "optuna-gp" and "suggest_cpu_s_last10" in r
        ]
        for sname in dict.fromkeys(r["sampler"] for r in rows):
            sel = [r for r in rows if r["sampler"] == sname]
            med = [np.median([r["regret"][c] for r in sel]) for c in checkpoints]
            timed = [r["suggest_cpu_s_last10"] for r in sel if "suggest_cpu_s_last10" in r]
            cost = float(np.median(timed)) if timed else float("nan")
            ratio = f"{cost / np.median(ref):.3f}x" if ref and timed else "-"
            # wall time includes the objective and the other users' load: context only
            wall = float(np.mean([r["wall_s"] for r in sel])) / max(r["trials"] for r in sel)
            lines.append(
                f"| {pname} | {sname} | {len(sel)} | "
                + " | ".join(f"{m:.3g}" for m in med)
                + f" | {cost:.4f} | {ratio} | {wall:.3f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
