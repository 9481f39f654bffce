"""qhpo gp's batch modes side by side: constant liar against q-EI (fantasies), q points a round.

Median simple regret over seeds at checkpoints, each study asking ``--batch`` points at a
time (as ``--batch`` workers would run them) and evaluating them before the next round, so
every round has ``--batch - 1`` pending points while it chooses. Sequential gp (batch 1) is
the reference a batch method tries to stay close to with fewer rounds.

    nice -n 10 uv run --frozen python tools/bench_qhpo_batch.py --seeds 10 --batch 4
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import qhpo  # noqa: E402
from qhpo.testfunctions import PROBLEMS  # noqa: E402

MODES = ("sequential", "liar", "qei")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--out", type=Path, default=None, help="JSON of every run")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.batch < 2 or args.trials < max(args.checkpoints):
        parser.error("--seeds >= 1, --batch >= 2 and --trials >= the largest checkpoint")
    runs = []
    for seed in range(args.seeds):
        for pname in args.problems:
            problem = PROBLEMS[pname]
            for mode in args.modes:
                q = 1 if mode == "sequential" else args.batch
                options = {} if mode == "sequential" else {"batch": mode}
                result = qhpo.minimize(
                    problem, problem.space, args.trials, "gp", seed=seed, batch_size=q, **options
                )
                values = [t.value if t.value is not None else np.inf for t in result.trials]
                best = np.minimum.accumulate(np.asarray(values, dtype=float))
                regret = {c: problem.regret(best[c - 1]) for c in args.checkpoints}
                runs.append({"problem": pname, "mode": mode, "seed": seed, "regret": regret})
                print(
                    f"{pname} {mode} seed={seed} "
                    + " ".join(f"r@{c}={r:.4g}" for c, r in regret.items()),
                    file=sys.stderr,
                    flush=True,
                )
                if args.out is not None:
                    args.out.write_text(
                        json.dumps({"args": vars(args) | {"out": str(args.out)}, "runs": runs})
                    )
    head = "| problem | mode | batch | seeds | " + " | ".join(
        f"median regret @{c}" for c in args.checkpoints
    )
    lines = [head + " |", "|" + "---|" * (4 + len(args.checkpoints))]
    for pname in args.problems:
        for mode in args.modes:
            sel = [r for r in runs if r["problem"] == pname and r["mode"] == mode]
            meds = [np.median([r["regret"][c] for r in sel]) for c in args.checkpoints]
            q = 1 if mode == "sequential" else args.batch
            lines.append(
                f"| {pname} | {mode} | {q} | {len(sel)} | "
                + " | ".join(f"{m:.3g}" for m in meds)
                + " |"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
