"""``qensemble``: robust aggregation, ensemble selection, balancer simulation and training.

qensemble aggregate UPDATES.{csv,npy} --rule krum --f 3 [--out AGG.npy]
qensemble select PROBS.npy LABELS.{csv,npy} -k 5 [--method qubo|caruana|top_k]
qensemble simulate --speeds 4,2,1,1 [--failure-rates ...] [--tasks 500] [--seed 0]
qensemble train --dataset digits --members 8 [--workers 2] [--backend local] [--epochs 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from qcore.entrypoint import CliParser, entry_point

from qensemble.errors import InvalidParameter, QensembleError

__all__ = ["main"]


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameter(f"expected comma-separated numbers, got {text!r}") from None


def _parser() -> CliParser:
    parser = CliParser(prog="qensemble", description="QuantumFlow ensemble tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    agg = commands.add_parser("aggregate", help="aggregate worker updates (one row per worker)")
    agg.add_argument("updates", type=Path, help=".npy [workers, dim] or CSV, one row per worker")
    agg.add_argument(
        "--rule",
        default="geometric_median",
        choices=[
            "mean",
            "geometric_median",
            "krum",
            "multi_krum",
            "coordinate_median",
            "trimmed_mean",
            "mad",
        ],
    )
    agg.add_argument("--f", type=int, default=None, help="Byzantine workers (krum, multi_krum)")
    agg.add_argument("--trim", type=int, default=None, help="values cut per side (trimmed_mean)")
    agg.add_argument("--out", type=Path, default=None, help="write the aggregate as .npy")
    sel = commands.add_parser("select", help="choose k members from validation predictions")
    sel.add_argument("probs", type=Path, help=".npy [members, samples, classes]")
    sel.add_argument("labels", type=Path, help=".npy or CSV of integer labels")
    sel.add_argument("-k", type=int, required=True, help="ensemble size")
    sel.add_argument("--method", default="qubo", choices=["qubo", "caruana", "top_k"])
    sel.add_argument("--solver", default="auto", help="qcore solver for --method qubo")
    sel.add_argument("--seed", type=int, default=0)
    sim = commands.add_parser("simulate", help="multi-factor balancer vs round-robin, simulated")
    sim.add_argument("--speeds", type=_floats, required=True, help="e.g. 4,2,1,1")
    sim.add_argument("--failure-rates", type=_floats, default=None)
    sim.add_argument("--tasks", type=int, default=500)
    sim.add_argument("--load", type=float, default=0.8)
    sim.add_argument("--seed", type=int, default=0)
    train = commands.add_parser("train", help="train an ensemble on a scikit-learn dataset")
    train.add_argument("--dataset", default="digits", choices=["digits", "breast_cancer", "wine"])
    train.add_argument("--members", type=int, default=8)
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--backend", default="local", choices=["local", "serial", "ray"])
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoint-dir", type=Path, default=None)
    return parser


def _aggregate(args) -> int:
    from qensemble import robust
    from qensemble.io import load_array

    updates = load_array(args.updates, "updates")
    if args.rule in ("krum", "multi_krum") and args.f is None:
        raise InvalidParameter(f"--f: --rule {args.rule} needs the number of Byzantine workers.")
    if args.rule == "mad":
        result = robust.MadFilter()(updates)
        out = result.aggregate
        print(f"accepted workers: {np.flatnonzero(result.accepted).tolist()}", file=sys.stderr)
    else:
        params = {}
        if args.f is not None:
            if args.rule not in ("krum", "multi_krum"):
                raise InvalidParameter(f"--f: only krum and multi_krum take f, not {args.rule}.")
            params["f"] = args.f
        if args.trim is not None:
            if args.rule != "trimmed_mean":
                raise InvalidParameter(f"--trim: only trimmed_mean takes it, not {args.rule}.")
            params["trim"] = args.trim
        out = robust.aggregate(updates, args.rule, **params)
    if args.out is not None:
        np.save(args.out, out)
    else:
        print(",".join(f"{v:.17g}" for v in np.asarray(out).ravel()))
    return 0


def _select(args) -> int:
    from qensemble import selection
    from qensemble.io import load_array

    try:
        probs = np.load(args.probs, allow_pickle=False)
    except ValueError as exc:
        raise InvalidParameter(f"probs: {args.probs} is not a plain .npy array ({exc}).") from None
    labels = load_array(args.labels, "labels").ravel()
    if args.method == "qubo":
        result = selection.qubo_select(probs, labels, args.k, solver=args.solver, seed=args.seed)
    elif args.method == "caruana":
        result = selection.caruana_select(probs, labels, args.k)
    else:
        result = selection.top_k_select(probs, labels, args.k)
    print(f"members: {result.members}")
    print(f"validation accuracy: {result.val_accuracy:.4f}")
    return 0


def _simulate(args) -> int:
    from qensemble.simulate import simulate_pool

    for name in ("round_robin", "multi_factor"):
        r = simulate_pool(
            name,
            args.speeds,
            failure_rates=args.failure_rates,
            n_tasks=args.tasks,
            load=args.load,
            seed=args.seed,
        )
        print(
            f"{name}: makespan {r.makespan:.2f}, mean latency {r.mean_latency:.2f}, "
            f"p95 {r.p95_latency:.2f}, retries {r.retries}, tasks per worker {r.per_worker}"
        )
    return 0


def _train(args) -> int:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import qensemble as qe

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }[args.dataset]
    x, y = loader(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=args.seed
    )
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    factory = qe.MLPFactory(x.shape[1], int(y.max()) + 1, (32,))
    ens = qe.Ensemble(
        factory,
        args.members,
        backend=args.backend,
        workers=args.workers,
        epochs=args.epochs,
        lr=3e-3,
        seed=args.seed,
        checkpoint_dir=args.checkpoint_dir,
        progress=True,
    ).fit(x_tr, y_tr)
    for failure in ens.failures:
        print(f"dropped member {failure.index}: {failure.errors[-1]}", file=sys.stderr)
    print(f"trained {len(ens.members)} members in {ens.fit_seconds:.1f} s")
    for method in ("mean", "vote", "softmax_score", "correlation", "stacking"):
        print(f"{method}: test accuracy {ens.score(x_te, y_te, method):.4f}")
    return 0


@entry_point("qensemble", user_errors=(QensembleError,))
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("k", "members", "workers", "epochs", "tasks"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise InvalidParameter(f"--{name}: is {value}; pass a number >= 1.")
    handler = {
        "aggregate": _aggregate,
        "select": _select,
        "simulate": _simulate,
        "train": _train,
    }[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
