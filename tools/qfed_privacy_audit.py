"""Audit qfed's DP-SGD empirically at a few noise levels and print a table.

Runs :func:`qfed.audit.audit_dp_sgd` (Steinke, Nasr, Jagielski 2023: one training run, Dirac
canaries each included with probability 1/2) once per noise multiplier and prints, for each,
the epsilon the Opacus RDP accountant claims next to the lower bound the audit proves. Noise 0
is the positive control: the audit must find leakage there, or it could not find it anywhere.
A lower bound above the accounted epsilon would mean a bug in the mechanism or the accounting.

    uv run python tools/qfed_privacy_audit.py            # 1000 canaries, 10 epochs
    uv run python tools/qfed_privacy_audit.py --quick    # 500 canaries, 3 epochs
"""

from __future__ import annotations

import argparse
import sys
import time

from qfed.audit import DPSGDAuditResult, audit_dp_sgd, epsilon_lower_bound


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--noise",
        type=float,
        nargs="+",
        default=[0.0, 0.5, 1.0, 2.0],
        help="noise multipliers to audit (0 is the positive control)",
    )
    p.add_argument("--canaries", type=int, default=None, help="canaries (default 1000, quick 500)")
    p.add_argument("--regular", type=int, default=None, help="digits examples (1000, quick 500)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 10, quick 3)")
    p.add_argument("--batch-size", type=int, default=200, help="expected Poisson batch size")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="per-sample clipping bound")
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--score", choices=["weight", "loss"], default="weight")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a smaller, faster run")
    args = p.parse_args(argv)
    args.canaries = args.canaries or (500 if args.quick else 1000)
    args.regular = args.regular or (500 if args.quick else 1000)
    args.epochs = args.epochs or (3 if args.quick else 10)
    return args


def _row(r: DPSGDAuditResult) -> str:
    eps = "inf" if r.accounted_epsilon == float("inf") else f"{r.accounted_epsilon:.3f}"
    a = r.audit
    return (
        f"| {r.noise_multiplier:.2f} | {eps} | {a.epsilon_lower_bound:.3f} "
        f"| {a.correct}/{a.guesses} = {a.precision:.3f} | {r.train_accuracy:.3f} "
        f"| {r.seconds:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # one tiny run first, so the one-off costs (lazy imports, loading digits) stay out of the
    # seconds column
    audit_dp_sgd(num_canaries=10, num_regular=10, noise_multiplier=1.0, epochs=1, batch_size=5)
    results = []
    for z in args.noise:
        print(f"auditing noise_multiplier={z} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        res = audit_dp_sgd(
            num_canaries=args.canaries,
            num_regular=args.regular,
            noise_multiplier=z,
            max_grad_norm=args.max_grad_norm,
            epochs=args.epochs,
            batch_size=args.batch_size,
            score=args.score,
            delta=args.delta,
            confidence=args.confidence,
            seed=args.seed,
        )
        results.append(res)
        print(
            f"  done in {time.perf_counter() - t0:.1f}s: accounted eps={res.accounted_epsilon:.3g},"
            f" audited lower bound={res.audit.epsilon_lower_bound:.3f}",
            file=sys.stderr,
            flush=True,
        )
    first = results[0]
    print(
        f"DP-SGD one-run audit: {args.canaries} Dirac canaries (p=1/2 each), "
        f"{args.regular} digits, "
        f"{args.epochs} epochs, {first.steps} steps at q={first.sample_rate:.3f}, "
        f"C={args.max_grad_norm}, score={args.score}, guesses {first.audit.k_plus} in + "
        f"{first.audit.k_minus} out, confidence {args.confidence}, seed {args.seed}"
    )
    print()
    print(
        f"| noise | accounted eps (δ={args.delta:g}) | audited eps (lower bound) "
        "| canary guess precision | train acc | seconds |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for res in results:
        print(_row(res))
    a = first.audit
    ceiling = epsilon_lower_bound(a.guesses, a.guesses, a.num_canaries, args.delta, args.confidence)
    print()
    print(
        f"ceiling: with every one of the {a.guesses} guesses right this audit proves at most "
        f"eps >= {ceiling:.3f}; an audited bound above the accounted eps would mean a bug."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
