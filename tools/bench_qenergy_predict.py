"""Power predictors side by side on generated cluster snapshots (held-out graphs).

Per-GPU-type linear, gradient boosting and GraphSAGE, each with split-conformal intervals at
90 % nominal coverage. Per job: MAPE, interval coverage and mean width on held-out snapshots;
per node: MAPE of node power (tabular models: their job predictions summed plus idle GPUs;
GraphSAGE: its node head). Split by snapshot: 60 % train, 20 % calibration, 20 % test.

    nice -n 10 uv run --frozen python tools/bench_qenergy_predict.py --graphs 80 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from qenergy.generator import GPU_SPECS, generate_snapshots
from qenergy.predict import ConformalPredictor, GradientBoostingPower, LinearPower, mape


def node_power_from_jobs(jobs, nodes, job_pred) -> np.ndarray:
    """Node power from per-job predictions: their sum plus the idle draw of free GPUs."""
    frame = jobs[["graph", "node"]].copy()
    frame["pred"] = job_pred
    summed = frame.groupby(["graph", "node"])["pred"].sum()
    out = []
    for _, row in nodes.iterrows():
        spec = GPU_SPECS[row["gpu_type"]]
        idle = (spec["idle_lo_w"] + spec["idle_hi_w"]) / 2
        out.append(summed.get((row["graph"], row["node"]), 0.0) + idle * (8 - row["busy_gpus"]))
    return np.array(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.graphs < 10 or not 0 < args.alpha < 1:
        parser.error("--graphs must be >= 10 and --alpha in (0, 1)")
    jobs, nodes = generate_snapshots(args.graphs, seed=args.seed)
    g = jobs["graph"].to_numpy()
    cut1, cut2 = int(args.graphs * 0.6), int(args.graphs * 0.8)
    masks = {"train": g < cut1, "cal": (g >= cut1) & (g < cut2), "test": g >= cut2}
    parts = {}
    for name, mask in masks.items():
        graphs = np.unique(g[mask])
        parts[name] = (
            jobs[mask].reset_index(drop=True),
            nodes[nodes["graph"].isin(graphs)]
            .sort_values("graph", kind="stable")
            .reset_index(drop=True),
        )
    test_jobs, test_nodes = parts["test"]
    y = test_jobs["power_w"].to_numpy()
    y_nodes = test_nodes["power_w"].to_numpy()
    rows = []
    for model in (LinearPower(seed=args.seed), GradientBoostingPower(seed=args.seed)):
        t0 = time.perf_counter()
        model.fit(parts["train"][0])
        conformal = ConformalPredictor(model, args.alpha).calibrate(parts["cal"][0])
        pred, lo, hi = conformal.interval(test_jobs)
        rows.append(
            {
                "model": model.name,
                "job_mape_pct": mape(y, pred),
                "coverage": float(np.mean((y >= lo) & (y <= hi))),
                "mean_width_w": float(np.mean(hi - lo)),
                "node_mape_pct": mape(y_nodes, node_power_from_jobs(test_jobs, test_nodes, pred)),
                "fit_s": time.perf_counter() - t0,
            }
        )
    try:
        from qenergy.gnn import GraphSAGEPower
    except ImportError:
        GraphSAGEPower = None
    if GraphSAGEPower is not None:
        t0 = time.perf_counter()
        gnn = GraphSAGEPower(epochs=args.epochs, seed=args.seed, threads=2).fit(*parts["train"])
        gnn.calibrate(*parts["cal"])
        pred, lo, hi = gnn.interval(test_jobs, test_nodes, alpha=args.alpha)
        rows.append(
            {
                "model": "graphsage",
                "job_mape_pct": mape(y, pred),
                "coverage": float(np.mean((y >= lo) & (y <= hi))),
                "mean_width_w": float(np.mean(hi - lo)),
                "node_mape_pct": mape(y_nodes, gnn.predict_nodes(test_jobs, test_nodes)),
                "fit_s": time.perf_counter() - t0,
            }
        )
    print(
        f"jobs: train {len(parts['train'][0])}, calibration {len(parts['cal'][0])}, "
        f"test {len(test_jobs)}; "
        f"nominal coverage {1 - args.alpha:.2f}"
    )
    print("| model | job MAPE % | coverage | mean interval width W | node MAPE % | fit s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['job_mape_pct']:.2f} | {r['coverage']:.3f} | "
            f"{r['mean_width_w']:.0f} | "
            f"{r['node_mape_pct']:.2f} | {r['fit_s']:.1f} |"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
