"""A real use of qhpo: tune a short LoRA-style training run, gp against Optuna's TPE.

The run: scikit-learn's digits (1,797 8x8 images, 10 classes), a frozen random 64->128
layer with a trainable low-rank adapter (rank r, B initialised to zero, as LoRA does) and a
trainable 128->10 head, Adam for 150 steps of batch 64 with gradient-norm clipping. The
searched hyperparameters are the ones a qfed DP-LoRA run exposes: learning rate (log),
adapter rank (int) and clipping norm (log). The objective is the validation cross-entropy;
the test accuracy of each study's best configuration is reported beside it.

    nice -n 10 uv run --frozen python tools/qhpo_tune_lora_digits.py --trials 20 --seeds 3
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import qhpo  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SPACE = qhpo.Space(
    [
        qhpo.Float("lr", 1e-4, 1.0, log=True),
        qhpo.Int("rank", 1, 32),
        qhpo.Float("clip", 0.01, 10.0, log=True),
    ]
)


def data() -> dict[str, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x_tr, y_tr, test_size=0.3, random_state=0, stratify=y_tr
    )
    t = lambda a, dt=torch.float32: torch.as_tensor(a, dtype=dt)  # noqa: E731
    return {
        "x_tr": t(x_tr), "y_tr": t(y_tr, torch.long), "x_va": t(x_va), "y_va": t(y_va, torch.long),
        "x_te": t(x_te), "y_te": t(y_te, torch.long),
    }  # fmt: skip


def train(cfg: dict[str, Any], d: dict[str, torch.Tensor], seed: int = 0) -> tuple[float, float]:
    """Validation cross-entropy and test accuracy of one short training run."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(64, 128, generator=g) / 8.0  # frozen "pretrained" layer
    a = (torch.randn(64, cfg["rank"], generator=g) / 8.0).requires_grad_()
    b = torch.zeros(cfg["rank"], 128, requires_grad=True)
    head = (torch.randn(128, 10, generator=g) / 11.0).requires_grad_()
    params = [a, b, head]
    opt = torch.optim.Adam(params, lr=cfg["lr"])

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ base + (x @ a) @ b) @ head

    n = len(d["y_tr"])
    for _ in range(150):
        idx = torch.randint(0, n, (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(forward(d["x_tr"][idx]), d["y_tr"][idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg["clip"])
        opt.step()
    with torch.no_grad():
        val = torch.nn.functional.cross_entropy(forward(d["x_va"]), d["y_va"]).item()
        acc = (forward(d["x_te"]).argmax(1) == d["y_te"]).float().mean().item()
    return val, acc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    d = data()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows: dict[str, list[tuple[float, float]]] = {"qhpo gp": [], "optuna tpe": []}
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        res = qhpo.minimize(lambda c: train(c, d)[0], SPACE, args.trials, "gp", seed=seed)
        rows["qhpo gp"].append((res.best_value, train(res.best_params, d)[1]))
        t1 = time.perf_counter()
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(
            lambda t: train(
                {
                    "lr": t.suggest_float("lr", 1e-4, 1.0, log=True),
                    "rank": t.suggest_int("rank", 1, 32),
                    "clip": t.suggest_float("clip", 0.01, 10.0, log=True),
                },
                d,
            )[0],
            n_trials=args.trials,
        )
        rows["optuna tpe"].append((study.best_value, train(study.best_params, d)[1]))
        print(
            f"seed {seed}: gp {rows['qhpo gp'][-1]} ({t1 - t0:.0f}s), "
            f"tpe {rows['optuna tpe'][-1]} ({time.perf_counter() - t1:.0f}s)",
            file=sys.stderr,
            flush=True,
        )
    print("| tuner | trials | seeds | median best val. loss | median test acc. of best |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        v = np.array(r)
        print(
            f"| {name} | {args.trials} | {args.seeds} | {np.median(v[:, 0]):.4f} | "
            f"{np.median(v[:, 1]):.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
