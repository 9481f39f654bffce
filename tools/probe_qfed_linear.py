"""The linear-probe ceiling of the main job's data: frozen MiniLM embeddings + logistic regression.

Embeds the main job's client rows (``--examples`` per client, Dirichlet 0.5 split, seed 0)
and the DP sweep's 1,000 held-out evaluation rows (``tools/sweep_qfed_dp.py``'s TuningTask)
with all-MiniLM-L6-v2 mean pooling, then fits scikit-learn's logistic regression on the
pooled client rows, non-private, for a few regularisation strengths. It prints the embedding
throughput (rows per second on one thread) and the probe's accuracy: what a model that only
trains the head can reach on this data, the ceiling a head-only DP run would approach.

    uv run python tools/probe_qfed_linear.py --examples 300
    uv run python tools/probe_qfed_linear.py --examples 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from qfed.task import FedConfig
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_qfed_dp import TuningTask


def embed(model, texts: list[str], max_length: int = 40) -> np.ndarray:
    started = time.perf_counter()
    enc = model.encode(texts, max_length=max_length)
    encoder = model.classifier_module.encoder
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 128):
            ids, mask = enc["input_ids"][i : i + 128], enc["attention_mask"][i : i + 128]
            width = int(mask.sum(1).max())
            ids, mask = ids[:, :width], mask[:, :width]
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).float()
            out.append(((hidden * weights).sum(1) / weights.sum(1)).numpy())
    seconds = time.perf_counter() - started
    print(f"embedded {len(texts)} rows in {seconds:.0f} s ({len(texts) / seconds:.0f} rows/s)")
    return np.concatenate(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--examples", type=int, default=300, help="examples per client")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    task = TuningTask(FedConfig(max_examples_per_client=args.examples, max_test_examples=None))
    model = task.build_model()
    test = task.test_data()
    x_test = embed(model, list(test.texts))
    parts = [task.client_data(i) for i in range(task.config.num_clients)]
    x = embed(model, [t for part in parts for t in part.texts])
    y = np.concatenate([part.labels for part in parts])
    for c in (0.1, 1.0, 10.0):
        probe = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        accuracy = probe.score(x_test, test.labels)
        print(f"{args.examples} examples/client, C={c}: probe accuracy {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
