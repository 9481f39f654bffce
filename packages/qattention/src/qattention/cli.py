"""The ``qattention`` command line.

    qattention topk --length 2048 --top-k 64           # error and time of top-k vs SDPA
    qattention rope --head-dim 64 --scaling yarn --factor 4 --original-max-position 2048
    qattention heads MODEL_DIR --fraction 0.4          # SVD head-pruning plan (extra 'hf')

Bad input prints one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from qattention.errors import QattentionError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        print(f"qattention: {message}", file=sys.stderr)
        raise SystemExit(2)


def _topk(args: argparse.Namespace) -> dict:
    import torch
    import torch.nn.functional as F

    from qattention.errors import InvalidArgument
    from qattention.topk import topk_attention

    for name in ("length", "heads", "dim"):
        if getattr(args, name) < 1:
            raise InvalidArgument(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.length * args.length * args.heads > 1 << 30:
        raise InvalidArgument("--length and --heads give over 2^30 scores for SDPA; lower them")
    g = torch.Generator().manual_seed(args.seed)
    q, k, v = (torch.randn(1, args.heads, args.length, args.dim, generator=g) for _ in range(3))
    start = time.perf_counter()
    out = topk_attention(q, k, v, args.top_k, is_causal=args.causal)
    topk_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=args.causal)
    sdpa_s = time.perf_counter() - start
    return {
        "length": args.length,
        "top_k": args.top_k,
        "rel_error": float((out - ref).norm() / ref.norm()),
        "topk_s": round(topk_s, 4),
        "sdpa_s": round(sdpa_s, 4),
    }


def _rope(args: argparse.Namespace) -> dict:
    from qattention.rope import RopeConfig, rope_frequencies

    config = RopeConfig(
        head_dim=args.head_dim,
        base=args.base,
        partial_rotary_factor=args.partial_rotary_factor,
        scaling=args.scaling,
        factor=args.factor,
        original_max_position=args.original_max_position,
    )
    inv_freq, attention = rope_frequencies(config, seq_len=args.seq_len)
    return {
        "rotary_dim": config.rotary_dim,
        "attention_factor": attention,
        "inv_freq": [float(f) for f in inv_freq],
        "wavelengths": [2 * math.pi / float(f) for f in inv_freq],
    }


def _heads(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from qattention.errors import InvalidArgument, missing_extra
    from qattention.pruning import plan_pruning, svd_scores

    if not Path(args.model).is_dir():
        raise InvalidArgument(f"model: {args.model!r} is not a local Hugging Face model directory")
    try:
        from transformers import AutoModel
    except ImportError as exc:
        raise missing_extra("hf", "qattention heads", exc) from exc
    try:
        model = AutoModel.from_pretrained(args.model)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"model: could not load {args.model!r}: {exc}") from None
    scores = svd_scores(model)
    plan = plan_pruning(model, scores, fraction=args.fraction)
    return {
        "heads_before": plan.heads_before,
        "heads_after": plan.heads_after,
        "pruned": plan.pruned,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qattention", description="qattention command line")
    sub = parser.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    p = sub.add_parser("topk", help="top-k attention vs SDPA on random inputs")
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--top-k", type=int, default=64)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("rope", help="RoPE inverse frequencies of a configuration")
    p.add_argument("--head-dim", type=int, required=True)
    p.add_argument("--base", type=float, default=10000.0)
    p.add_argument("--partial-rotary-factor", type=float, default=1.0)
    p.add_argument("--scaling", default="none")
    p.add_argument("--factor", type=float, default=1.0)
    p.add_argument("--original-max-position", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=None)
    p = sub.add_parser("heads", help="SVD head-pruning plan of a local HF model")
    p.add_argument("model")
    p.add_argument("--fraction", type=float, default=0.4)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = {"topk": _topk, "rope": _rope, "heads": _heads}[args.cmd](args)
    except QattentionError as exc:
        print(f"qattention {args.cmd}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
