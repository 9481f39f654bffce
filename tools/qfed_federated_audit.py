"""Audit qfed's federated path empirically at a few epsilons and print markdown tables.

Two one-run audits (Steinke, Nasr, Jagielski 2023), each next to its positive control:

* sample level, :func:`qfed.audit.audit_client_training`: canary records (random WordPiece
  words, random labels, each in with probability 1/2) in one client's real rows, trained on by
  the real ``train_local`` DP-SGD; each canary is scored white-box from the client's update;
* client level, :func:`qfed.audit.audit_client_level` (after Andrew et al., ICLR 2024):
  canary clients sending ``global + C u_i`` into Poisson-sampled ``ClientLevelDP`` rounds,
  scored by the cosine of the final model change with u_i.

"control" is the same run without noise: the audit must find leakage there, or it could not
find it anywhere. The audited value is a lower bound, never a certificate; one above the
accounted epsilon would mean a bug in the mechanism or in its accounting.

    uv run python tools/qfed_federated_audit.py --quick                 # tiny model, ~1 min
    uv run python tools/qfed_federated_audit.py --model minilm          # all-MiniLM-L6-v2
    uv run python tools/qfed_federated_audit.py --epsilons 1 4 8 --seed 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from qcore.entrypoint import entry_point
from qfed.audit import (
    FederatedAuditResult,
    audit_client_level,
    audit_client_training,
    epsilon_lower_bound,
)
from qfed.errors import QfedError
from qfed.task import FedConfig, FederatedTask

# per-model local training defaults: the tiny random model needs a larger step to move
TRAIN_DEFAULTS = {"tiny": {"lr": 0.05, "epochs": 6}, "minilm": {"lr": 5e-3, "epochs": 3}}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, a minute on the tiny model")
    p.add_argument(
        "--epsilons", type=float, nargs="+", default=None, help="targets (default 1 4 8; quick 2 8)"
    )
    p.add_argument("--seed", type=int, default=0, help="canaries, coins, noise")
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--only", choices=["sample", "client"], default=None, help="run one audit")
    g = p.add_argument_group("sample level (canary records in one client's DP-SGD)")
    g.add_argument("--model", choices=["tiny", "minilm"], default="tiny")
    g.add_argument("--canaries", type=int, default=None, help="canary records (500; quick 200)")
    g.add_argument("--real", type=int, default=None, help="client rows, at most (200; quick 100)")
    g.add_argument("--client", type=int, default=0, help="which client's rows")
    g.add_argument("--epochs", type=int, default=None, help="local epochs (tiny 6, minilm 3)")
    g.add_argument("--batch-size", type=int, default=32, help="expected Poisson batch")
    g.add_argument("--lr", type=float, default=None, help="SGD step (tiny 0.05, minilm 5e-3)")
    g.add_argument("--max-grad-norm", type=float, default=1.0)
    g.add_argument("--canary-words", type=int, default=8)
    g.add_argument("--score", choices=["ridge", "inner", "both"], default="ridge")
    g = p.add_argument_group("client level (canary clients in DP-FedAvg)")
    g.add_argument("--clients", type=int, default=100, help="real clients")
    g.add_argument(
        "--client-canaries", type=int, default=None, help="canary clients (200; quick 100)"
    )
    g.add_argument("--clients-per-round", type=int, default=20, help="K (q = K / population)")
    g.add_argument("--rounds", type=int, default=None, help="rounds (50; quick 30)")
    g.add_argument("--clip-norm", type=float, default=1.0, help="C")
    g.add_argument(
        "--client-params",
        choices=["model", "flat"],
        default="model",
        help="the travelling tensors of --model (default) or a flat vector of --client-dim",
    )
    g.add_argument("--client-dim", type=int, default=4096)
    g.add_argument("--client-updates", choices=["random", "train"], default="random")
    g.add_argument("--drift", type=float, default=0.0, help="shared direction of random updates")
    args = p.parse_args(argv)
    args.epsilons = args.epsilons or ([2.0, 8.0] if args.quick else [1.0, 4.0, 8.0])
    args.canaries = args.canaries or (200 if args.quick else 500)
    args.real = args.real or (100 if args.quick else 200)
    args.epochs = args.epochs or TRAIN_DEFAULTS[args.model]["epochs"]
    args.lr = args.lr or TRAIN_DEFAULTS[args.model]["lr"]
    args.client_canaries = args.client_canaries or (100 if args.quick else 200)
    args.rounds = args.rounds or (30 if args.quick else 50)
    return args


def _eps(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3f}"


def _table(rows: list[tuple[str, FederatedAuditResult]], delta: float) -> None:
    print(
        f"| setting | noise multiplier | accounted ε (δ={delta:g}) | audited ε lower bound "
        "| correct / guesses | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        a = r.audit
        print(
            f"| {name} | {r.noise_multiplier:.3f} | {_eps(r.accounted_epsilon)} "
            f"| {a.epsilon_lower_bound:.3f} | {a.correct} / {a.guesses} | {r.seconds:.1f} |"
        )


def _ceiling(r: FederatedAuditResult, args: argparse.Namespace) -> str:
    a = r.audit
    top = epsilon_lower_bound(a.guesses, a.guesses, a.num_canaries, args.delta, args.confidence)
    return f"with all {a.guesses} guesses right this audit proves at most ε >= {top:.3f}"


def _settings(args: argparse.Namespace) -> list[tuple[str, dict]]:
    out = [("control (no noise)", {"noise_multiplier": 0.0})]
    out += [(f"ε = {e:g}", {"epsilon": e}) for e in args.epsilons]
    return out


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_sample(args: argparse.Namespace) -> None:
    task = FederatedTask(
        FedConfig(model=args.model, max_examples_per_client=args.real, seed=args.seed)
    )
    model = task.build_model()
    scores = ["ridge", "inner"] if args.score == "both" else [args.score]
    rows = []
    for name, setting in _settings(args):
        for score in scores:
            _progress(f"sample level: {name}, score {score} ...")
            res = audit_client_training(
                task=task,
                client=args.client,
                model=model,
                num_canaries=args.canaries,
                canary_words=args.canary_words,
                delta=args.delta,
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.lr,
                max_grad_norm=args.max_grad_norm,
                score=score,
                confidence=args.confidence,
                seed=args.seed,
                **setting,
            )
            rows.append((name if len(scores) == 1 else f"{name}, {score}", res))
    first = rows[0][1]
    print(
        f"### Sample level: {args.model} client {args.client}, train_local DP-SGD "
        f"(Poisson, SGD lr {args.lr:g}, C={args.max_grad_norm:g})"
    )
    print()
    print(
        f"{first.num_real} real rows + {first.num_canaries} canary records "
        f"({first.num_included} included), {first.steps} steps at q={first.sample_rate:.3f}, "
        f"{first.dimension} trainable coordinates, score {args.score}, guesses "
        f"{first.audit.k_plus} in + {first.audit.k_minus} out, confidence {args.confidence}, "
        f"seed {args.seed}"
    )
    print()
    _table(rows, args.delta)
    print()
    print(f"Ceiling: {_ceiling(first, args)}.")
    print()


def run_client(args: argparse.Namespace) -> None:
    params, task = None, None
    if args.client_updates == "train":
        task = FederatedTask(
            FedConfig(
                model=args.model,
                num_clients=args.clients,
                clients_per_round=min(args.clients_per_round, args.clients),
                max_examples_per_client=args.real,
                dp="client",
                selection="random",
                seed=args.seed,
            )
        )
    elif args.client_params == "model":
        # the tensors a run of this model travels with (FedConfig's LoRA settings)
        config = FedConfig(model=args.model, seed=args.seed)
        params = FederatedTask(config).build_model().trainable_state()
    rows = []
    for name, setting in _settings(args):
        _progress(f"client level: {name} ...")
        res = audit_client_level(
            num_clients=None if task is not None else args.clients,
            num_canaries=args.client_canaries,
            clients_per_round=args.clients_per_round,
            rounds=args.rounds,
            delta=args.delta,
            clip_norm=args.clip_norm,
            params=params,
            dimension=args.client_dim,
            client_updates=args.client_updates,
            task=task,
            drift=args.drift,
            confidence=args.confidence,
            seed=args.seed,
            **setting,
        )
        rows.append((name, res))
    first = rows[0][1]
    shape = (
        f"the {args.model} model's travelling tensors"
        if args.client_params == "model" or task is not None
        else "a flat vector"
    )
    print(f"### Client level: ClientLevelDP (DP-FedAvg), {args.client_updates} real updates")
    print()
    print(
        f"{first.num_real} real clients + {first.num_canaries} canary clients "
        f"({first.num_included} included), {first.steps} rounds at q={first.sample_rate:.3f} "
        f"(K={args.clients_per_round}), C={args.clip_norm:g}, {first.dimension} coordinates "
        f"({shape}), score cosine(final - initial, u_i), guesses {first.audit.k_plus} in + "
        f"{first.audit.k_minus} out, confidence {args.confidence}, seed {args.seed}"
    )
    print()
    _table(rows, args.delta)
    print()
    print(f"Ceiling: {_ceiling(first, args)}.")
    print()


@entry_point("qfed_federated_audit", user_errors=(QfedError,))
def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    start = time.perf_counter()
    if args.only in (None, "sample"):
        run_sample(args)
    if args.only in (None, "client"):
        run_client(args)
    _progress(f"total {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
