"""qensemble benchmark: combining, selection, Byzantine robustness, parallel speed-up, balancing.

    uv run --frozen python tools/bench_qensemble.py            # everything, ~5-10 min here
    uv run --frozen python tools/bench_qensemble.py --sections combine select

Sections (each prints a markdown table; numbers are means over ``--seeds`` with the spread):

- ``combine``: sklearn digits and breast_cancer (60/20/20 train/val/test, stratified), 8 small
  torch MLPs per ensemble (bootstrap views, seeds 0..7): best single member (chosen on
  validation), average member, and every combiner's test accuracy; soups on a second ensemble
  whose members share one initialisation.
- ``select``: a library of 16 weaker, more varied members (8 epochs, subsample views, input
  noise); ensembles of k=5 chosen by the QUBO (qcore) vs Caruana's greedy vs top-k vs a random
  k, against all 16.
- ``robust``: federated softmax regression on digits, 10 workers (IID shards), 3 Byzantine
  (30%): sign flip, large noise, and Baruch et al.'s "a little is enough" (ALIE); test accuracy
  of each aggregation rule after ``--rounds`` rounds, and plain averaging without attackers.
- ``speed``: 8 members trained in-process (serial), by 1 and 2 worker processes, and by 2 Ray
  actors; wall seconds and speed-up ratios measured in the same run.
- ``balance``: the pool simulation (qensemble.simulate): multi-factor balancer vs round-robin.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from statistics import mean, stdev

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _fmt(values: list[float], pct: bool = True) -> str:
    scale = 100.0 if pct else 1.0
    m = mean(values) * scale
    if len(values) < 2:
        return f"{m:.2f}"
    return f"{m:.2f} ± {stdev(values) * scale:.2f}"


def _dataset(name: str, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = (load_digits if name == "digits" else load_breast_cancer)(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x_tr, y_tr, test_size=0.25, stratify=y_tr, random_state=seed
    )
    scaler = StandardScaler().fit(x_tr)
    f = lambda a: scaler.transform(a).astype(np.float32)  # noqa: E731
    return f(x_tr), y_tr, f(x_va), y_va, f(x_te), y_te


def _factory(name: str):
    import qensemble as qe

    return qe.MLPFactory(64, 10, (32,)) if name == "digits" else qe.MLPFactory(30, 2, (16,))


def bench_combine(seeds: list[int], members: int) -> None:
    import qensemble as qe
    from qensemble.ensemble import METHODS

    methods = [m for m in METHODS if "soup" not in m]
    print("\n### Combining: test accuracy (%)\n")
    header = ["dataset", "best single (val-chosen)", "average member", *methods]
    header += ["soup: mean of members", "uniform soup", "greedy soup"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in ("digits", "breast_cancer"):
        rows: dict[str, list[float]] = {h: [] for h in header[1:]}
        for seed in seeds:
            x, y, xv, yv, xt, yt = _dataset(name, seed)
            common = {"backend": "serial", "epochs": 30, "lr": 3e-3, "seed": 100 * seed}
            ens = qe.Ensemble(_factory(name), members, **common).fit(x, y, xv, yv)
            probs = ens.member_probs(xt)
            single = (probs.argmax(axis=2) == yt).mean(axis=1)
            best = int(np.argmax([m.val_accuracy for m in ens.members]))
            rows["best single (val-chosen)"].append(float(single[best]))
            rows["average member"].append(float(single.mean()))
            for method in methods:
                rows[method].append(ens.score(xt, yt, method))
            soup = qe.Ensemble(_factory(name), members, share_init=True, view="full", **common).fit(
                x, y, xv, yv
            )
            rows["soup: mean of members"].append(soup.score(xt, yt, "mean"))
            rows["uniform soup"].append(soup.score(xt, yt, "uniform_soup"))
            rows["greedy soup"].append(soup.score(xt, yt, "greedy_soup"))
        print("| " + name + " | " + " | ".join(_fmt(rows[h]) for h in header[1:]) + " |")


LAMBDA_GRID = (0.0, 0.25, 0.5, 1.0, 2.0)


def bench_select(seeds: list[int], library: int, k: int) -> None:
    import qensemble as qe
    from qensemble.selection import ensemble_accuracy

    print(f"\n### Selection: {k} of {library} members, test accuracy (%)\n")
    header = ["dataset", f"all {library}", f"QUBO k={k}", f"QUBO, λ tuned on val k={k}"]
    header += [f"QUBO co-error k={k}"]
    header += [f"Caruana k={k}", f"top-k k={k}"]
    header += [f"random k={k}", "QUBO = Caruana set", "QUBO solve s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in ("digits", "breast_cancer"):
        rows: dict[str, list[float]] = {h: [] for h in header[1:]}
        for seed in seeds:
            x, y, xv, yv, xt, yt = _dataset(name, seed)
            ens = qe.Ensemble(
                _factory(name),
                library,
                backend="serial",
                epochs=8,
                lr=3e-3,
                view="subsample",
                subsample=0.5,
                noise_std=0.3,
                seed=1000 + 100 * seed,
            ).fit(x, y, xv, yv)
            probs = ens.member_probs(xt)
            q = ens.select(k, "qubo", seed=seed)
            qt = ens.select(k, "qubo", seed=seed, redundancy=LAMBDA_GRID)
            qc = ens.select(k, "qubo", seed=seed, pair_term="coerror")
            c = ens.select(k, "caruana")
            t = ens.select(k, "top_k")
            rng = np.random.default_rng(seed)
            randoms = [
                ensemble_accuracy(probs, yt, sorted(rng.choice(library, k, replace=False)))
                for _ in range(20)
            ]
            rows[f"all {library}"].append(ensemble_accuracy(probs, yt, list(range(library))))
            rows[f"QUBO k={k}"].append(ensemble_accuracy(probs, yt, q.members))
            rows[f"QUBO, λ tuned on val k={k}"].append(ensemble_accuracy(probs, yt, qt.members))
            rows[f"QUBO co-error k={k}"].append(ensemble_accuracy(probs, yt, qc.members))
            rows[f"Caruana k={k}"].append(ensemble_accuracy(probs, yt, c.members))
            rows[f"top-k k={k}"].append(ensemble_accuracy(probs, yt, t.members))
            rows[f"random k={k}"].append(float(np.mean(randoms)))
            rows["QUBO = Caruana set"].append(float(sorted(q.members) == sorted(c.members)))
            rows["QUBO solve s"].append(float(q.info["wall_s"]))
        cells = [_fmt(rows[h]) for h in header[1:-2]]
        cells.append(f"{int(sum(rows['QUBO = Caruana set']))}/{len(seeds)}")
        cells.append(f"{mean(rows['QUBO solve s']):.3f}")
        print("| " + name + " | " + " | ".join(cells) + " |")


# ---- Byzantine-robust federated rounds ---------------------------------------------------------


def _softmax_grad(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    logits = x @ w
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return (x.T @ p) / len(y) + l2 * w


def _attack(
    kind: str, honest: np.ndarray, own: np.ndarray, rng: np.random.Generator, n: int, f: int
):
    """The Byzantine workers' updates (``own``: the gradients they would have sent honestly)."""
    from scipy.stats import norm

    if kind == "none":
        return own
    if kind == "sign_flip":
        return -4.0 * own
    if kind == "noise":
        return own + rng.normal(scale=10.0, size=own.shape)
    if kind == "alie":
        # Baruch, Baruch, Goldberg 2019: every attacker sends mean - z * std of the honest
        # updates, z chosen so the point stays inside the honest spread for robust rules.
        s = n // 2 + 1 - f
        z = norm.ppf((n - s) / n)
        mu, sigma = honest.mean(axis=0), honest.std(axis=0)
        return np.repeat((mu - z * sigma)[None], len(own), axis=0)
    raise ValueError(kind)


def bench_robust(seeds: list[int], rounds: int, workers: int = 10, byzantine: int = 3) -> None:
    from qensemble import robust

    rules = {
        "mean": lambda u, r: robust.mean(u),
        "geometric median": lambda u, r: robust.geometric_median(u),
        "Krum": lambda u, r: robust.krum(u, f=byzantine),
        "multi-Krum": lambda u, r: robust.multi_krum(u, f=byzantine),
        "coordinate median": lambda u, r: robust.coordinate_median(u),
        "trimmed mean": lambda u, r: robust.trimmed_mean(u, byzantine),
        "MAD + reputation": lambda u, r: r(u).aggregate,
    }
    attacks = ["none", "sign_flip", "noise", "alie"]
    print(
        f"\n### Byzantine robustness: federated softmax regression on digits, {workers} workers, "
        f"{byzantine} Byzantine ({100 * byzantine // workers}%), {rounds} rounds: "
        "test accuracy (%)\n"
    )
    print("| rule | " + " | ".join(attacks) + " |")
    print("|---|" + "---|" * len(attacks))
    results = {(r, a): [] for r in rules for a in attacks}
    for seed in seeds:
        x, y, _xv, _yv, xt, yt = _dataset("digits", seed)
        x = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        xt = np.hstack([xt, np.ones((len(xt), 1), np.float32)]).astype(np.float64)
        shards = np.array_split(np.random.default_rng(seed).permutation(len(x)), workers)
        for attack in attacks:
            for rule_name, rule in rules.items():
                rng = np.random.default_rng([seed, 7])
                mad = robust.MadFilter()
                w = np.zeros((x.shape[1], 10))
                for _ in range(rounds):
                    grads = []
                    for shard in shards:
                        batch = rng.choice(shard, size=min(32, len(shard)), replace=False)
                        grads.append(_softmax_grad(w, x[batch], y[batch]).ravel())
                    grads = np.array(grads)
                    honest = grads[byzantine:]
                    grads[:byzantine] = _attack(
                        attack, honest, grads[:byzantine], rng, workers, byzantine
                    )
                    step = rule(grads, mad)
                    w = w - 0.5 * np.asarray(step).reshape(w.shape)
                acc = float(((xt @ w).argmax(axis=1) == yt).mean())
                results[(rule_name, attack)].append(acc)
    for rule_name in rules:
        print(
            f"| {rule_name} | " + " | ".join(_fmt(results[(rule_name, a)]) for a in attacks) + " |"
        )


# ---- parallel speed ----------------------------------------------------------------------------


def bench_speed(members: int, epochs: int, with_ray: bool) -> None:
    import qensemble as qe

    x, y, xv, yv, _, _ = _dataset("digits", 0)
    factory = qe.MLPFactory(64, 10, (256, 256))
    runs: list[tuple[str, str, int]] = [("serial", "serial", 1), ("local", "local", 1)]
    runs.append(("local", "local", 2))
    if with_ray:
        runs.append(("ray", "ray", 2))
    print(
        f"\n### Parallel training: {members} members, MLP 64-256-256-10, {epochs} epochs on "
        f"digits; 2 shared cores, 1 torch thread per worker\n"
    )
    print(
        "| backend | workers | wall s | sum of member wall s | sum of member CPU s "
        "| CPU s / wall s | load avg before | speed-up vs serial | vs local x1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    walls: dict[tuple[str, int], float] = {}
    for label, backend, n in runs:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        ens = qe.Ensemble(
            factory, members, backend=backend, workers=n, epochs=epochs, lr=1e-3, seed=0
        ).fit(x, y, xv, yv)
        wall = time.perf_counter() - start
        walls[(label, n)] = wall
        work = sum(m.seconds for m in ens.members)
        cpu = sum(m.cpu_seconds for m in ens.members)
        base = walls[("serial", 1)]
        local1 = walls.get(("local", 1))
        print(
            f"| {label} | {n} | {wall:.1f} | {work:.1f} | {cpu:.1f} | {cpu / wall:.2f} | "
            f"{load_before:.1f} | {base / wall:.2f}x | "
            + (f"{local1 / wall:.2f}x" if local1 else "-")
            + " |",
            flush=True,
        )


def bench_balance(seeds: list[int]) -> None:
    from qensemble.simulate import simulate_pool

    pools = {
        "speeds 4,2,1,1,0.5,0.5": {"speeds": [4, 2, 1, 1, 0.5, 0.5]},
        "+ flaky (30% fail) + one dies at t=50": {
            "speeds": [4, 2, 1, 1, 0.5, 0.5],
            "failure_rates": [0, 0, 0.3, 0, 0, 0],
            "die_at": {1: 50.0},
        },
        "equal speeds (control)": {"speeds": [1, 1, 1, 1, 1, 1]},
    }
    print(
        "\n### Load balancing: simulated pool, 500 tasks, arrivals at 80% of capacity "
        "(multi-factor vs round-robin, same arrivals)\n"
    )
    print(
        "| pool | makespan RR | makespan MF | RR/MF | mean latency RR | mean latency MF "
        "| p95 RR | p95 MF |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, kw in pools.items():
        rr = [simulate_pool("round_robin", n_tasks=500, seed=s, **kw) for s in seeds]
        mf = [simulate_pool("multi_factor", n_tasks=500, seed=s, **kw) for s in seeds]

        def avg(reports, attr):
            return mean(getattr(r, attr) for r in reports)

        print(
            f"| {label} | {avg(rr, 'makespan'):.1f} | {avg(mf, 'makespan'):.1f} | "
            f"{avg(rr, 'makespan') / avg(mf, 'makespan'):.2f}x | {avg(rr, 'mean_latency'):.2f} | "
            f"{avg(mf, 'mean_latency'):.2f} | {avg(rr, 'p95_latency'):.2f} | "
            f"{avg(mf, 'p95_latency'):.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["combine", "select", "robust", "balance", "speed"],
        choices=["combine", "select", "robust", "balance", "speed"],
    )
    parser.add_argument("--seeds", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--rounds", type=int, default=150, help="federated rounds")
    parser.add_argument("--speed-epochs", type=int, default=40)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray row of 'speed'")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.rounds < 1 or args.speed_epochs < 1:
        parser.error("--seeds, --rounds and --speed-epochs must be >= 1")
    import torch

    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(f"# qensemble benchmark (seeds {seeds}; machine shared by other jobs)", flush=True)
    start = time.perf_counter()
    if "combine" in args.sections:
        bench_combine(seeds, members=8)
    if "select" in args.sections:
        bench_select(seeds, library=16, k=5)
    if "robust" in args.sections:
        bench_robust(seeds, args.rounds)
    if "balance" in args.sections:
        bench_balance(list(range(max(5, args.seeds))))
    if "speed" in args.sections:
        bench_speed(8, args.speed_epochs, with_ray=not args.no_ray)
    print(f"\n(total {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
