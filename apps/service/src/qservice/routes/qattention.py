"""qattention: top-k sparse attention over posted tensors, diverse key subsets (QUBO through
qcore, or the greedy baseline), RoPE frequencies, and an SVD head-pruning plan of a model as a
job."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from qservice.api_deps import Compute
from qservice.errors import InvalidInput, LimitExceeded
from qservice.jobs.registry import JobContext, job_kind
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/attention", tags=["qattention"])

MAX_LENGTH, MAX_DIM, MAX_VALUES = 1024, 256, 500_000
MAX_CANDIDATES = 26  # the exact solver proves the optimum up to here
Finite = Annotated[float, Field(allow_inf_nan=False)]
Matrix = list[list[Finite]]


def _matrix(name: str, rows: Matrix) -> tuple[int, int]:
    if not rows or not rows[0]:
        raise InvalidInput(f"{name}: give a non-empty [rows][dim] matrix")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInput(f"{name}[{i}]: {len(row)} values, the first row has {width}")
    if len(rows) > MAX_LENGTH or width > MAX_DIM:
        raise LimitExceeded(
            f"{name}: {len(rows)} x {width}, over the limit of {MAX_LENGTH} x {MAX_DIM}"
        )
    return len(rows), width


class TopKRequest(BaseModel):
    q: Matrix = Field(description="[queries][dim]")
    k: Matrix = Field(description="[keys][dim]")
    v: Matrix = Field(description="[keys][value dim]")
    top_k: int = Field(ge=1, le=MAX_LENGTH)
    causal: bool = False
    scale: float | None = Field(None, gt=0, le=1e6, description="default 1/sqrt(dim)")


class TopKOut(BaseModel):
    output: list[list[float]]
    rel_error_vs_full: float = Field(description="||topk - full|| / ||full|| on these inputs")


@router.post("/topk", response_model=TopKOut)
def topk(body: TopKRequest, principal: Compute) -> TopKOut:
    """Each query attends to its ``top_k`` best keys only (exact top-k, qattention), with the
    error against full attention on the same inputs."""
    sizes = [_matrix(n, getattr(body, n)) for n in ("q", "k", "v")]
    total = sum(r * c for r, c in sizes) + sizes[0][0] * sizes[1][0]  # inputs + scores
    if total > MAX_VALUES:
        raise LimitExceeded(f"q, k, v: {total} values and scores, over the limit of {MAX_VALUES}")
    import qattention
    import torch

    q, k, v = (torch.tensor(m, dtype=torch.float32) for m in (body.q, body.k, body.v))
    with package_errors(qattention.QattentionError), torch.no_grad():
        out = qattention.topk_attention(
            q, k, v, body.top_k, is_causal=body.causal, scale=body.scale
        )
        full = qattention.naive_attention(q, k, v, is_causal=body.causal, scale=body.scale)
    norm = float(full.norm())
    error = float((out - full).norm()) / norm if norm > 0 else float((out - full).norm())
    return TopKOut(output=out.tolist(), rel_error_vs_full=error)


class KeySubsetRequest(BaseModel):
    scores: list[Finite] = Field(min_length=1, description="one query's scores over the keys")
    keys: Matrix = Field(description="[keys][dim]")
    top_k: int = Field(ge=1, le=MAX_CANDIDATES)
    candidates: int = Field(16, ge=1, le=MAX_CANDIDATES)
    redundancy: float = Field(1.0, ge=0, le=100)
    method: Literal["qubo", "greedy"] = "qubo"
    solver: str = Field("exact", max_length=50)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    time_limit: float | None = Field(None, gt=0, le=30)


class KeySubsetOut(BaseModel):
    indices: list[int]
    objective: float
    solver: str
    wall_s: float


@router.post("/key-subsets", response_model=KeySubsetOut)
def key_subset(body: KeySubsetRequest, principal: Compute) -> KeySubsetOut:
    """``top_k`` relevant and diverse keys for one query: the subset-selection QUBO solved
    through qcore (``qubo``) or maximal marginal relevance (``greedy``)."""
    rows, _ = _matrix("keys", body.keys)
    if rows != len(body.scores):
        raise InvalidInput(f"keys: {rows} rows; give one per score ({len(body.scores)})")
    import qattention
    import torch

    scores = torch.tensor(body.scores, dtype=torch.float64)
    keys = torch.tensor(body.keys, dtype=torch.float64)
    with package_errors(qattention.QattentionError, RuntimeError):
        if body.method == "qubo":
            chosen = qattention.qubo_key_subset(
                scores,
                keys,
                body.top_k,
                candidates=body.candidates,
                redundancy=body.redundancy,
                solver=body.solver,
                seed=body.seed,
                time_limit=body.time_limit,
            )
        else:
            chosen = qattention.greedy_key_subset(
                scores, keys, body.top_k, candidates=body.candidates, redundancy=body.redundancy
            )
    return KeySubsetOut(
        indices=chosen.indices,
        objective=float(chosen.objective),
        solver=chosen.solver,
        wall_s=chosen.wall_s,
    )


class RopeRequest(BaseModel):
    head_dim: int = Field(ge=2, le=4096)
    base: float = Field(10000.0, gt=1, le=1e9)
    partial_rotary_factor: float = Field(1.0, gt=0, le=1)
    scaling: Literal["none", "linear", "ntk", "dynamic", "yarn"] = "none"
    factor: float = Field(1.0, ge=1, le=1024)
    original_max_position: int | None = Field(None, ge=1, le=10_000_000)
    seq_len: int | None = Field(None, ge=1, le=10_000_000)


class RopeOut(BaseModel):
    rotary_dim: int
    attention_factor: float
    inv_freq: list[float]
    wavelengths: list[float]


@router.post("/rope", response_model=RopeOut)
def rope(body: RopeRequest, principal: Compute) -> RopeOut:
    """Inverse frequencies and wavelengths of a rotary-embedding configuration (qattention's
    RoPE, transformers' conventions)."""
    from qattention import QattentionError
    from qattention.rope import RopeConfig, rope_frequencies

    with package_errors(QattentionError):
        config = RopeConfig(
            head_dim=body.head_dim,
            base=body.base,
            partial_rotary_factor=body.partial_rotary_factor,
            scaling=body.scaling,
            factor=body.factor,
            original_max_position=body.original_max_position,
        )
        inv_freq, attention = rope_frequencies(config, seq_len=body.seq_len)
    freqs = [float(f) for f in inv_freq]
    return RopeOut(
        rotary_dim=config.rotary_dim,
        attention_factor=float(attention),
        inv_freq=freqs,
        wavelengths=[2 * math.pi / f for f in freqs],
    )


class HeadPruningParams(BaseModel):
    model: str = Field(
        "minilm",
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="'minilm' or 'tiny' (base weights), or a registered model's name",
    )
    version: int | None = Field(None, ge=1, description="of a registered model; default newest")
    fraction: float = Field(0.4, ge=0, lt=1, description="of all heads to prune")
    block: Literal["ov", "o"] = "ov"
    norm: Literal["nuclear", "spectral", "frobenius"] = "nuclear"


@job_kind("attention_heads", HeadPruningParams, "an SVD head-pruning plan of a model (qattention)")
def run_head_pruning(params: HeadPruningParams, ctx: JobContext) -> dict[str, Any]:
    """Score every attention head by the singular values of its output circuit and plan which
    ``fraction`` to prune (data-free); for a registered model, of its trained weights (LoRA
    merged)."""
    from qattention import QattentionError
    from qattention.pruning import plan_pruning, svd_scores

    encoder = _encoder(params, ctx)
    ctx.progress({"step": "scoring heads"})
    try:
        scores = svd_scores(encoder, block=params.block, norm=params.norm)
        plan = plan_pruning(encoder, scores, fraction=params.fraction)
    except QattentionError as exc:
        raise InvalidInput(f"model: {str(exc).splitlines()[0]}") from None
    return {
        "model": params.model,
        "heads_before": plan.heads_before,
        "heads_after": plan.heads_after,
        "keep": plan.keep,
        "pruned": plan.pruned,
        "scores": {layer: [float(x) for x in s] for layer, s in scores.items()},
    }


def _encoder(params: HeadPruningParams, ctx: JobContext) -> Any:
    """The transformer encoder of a base model (qfed's) or of a registered version."""
    from pathlib import Path

    from qfed.model import load_model
    from sqlalchemy import select

    from qservice.export import build_checkpoint_model
    from qservice.models import ModelVersion

    if params.model in ("minilm", "tiny"):
        model = load_model(params.model, num_labels=2)
    else:
        if ctx.db is None:
            raise RuntimeError("attention_heads needs the job store for a registered model")
        with ctx.db.session() as s:
            query = select(ModelVersion).where(ModelVersion.name == params.model)
            if params.version:
                query = query.where(ModelVersion.version == params.version)
            row = s.scalar(query.order_by(ModelVersion.version.desc()).limit(1))
        if row is None:
            raise InvalidInput(
                f"model: no registered {params.model!r}; give 'minilm', 'tiny' or a model name"
            )
        model, _ = build_checkpoint_model(Path(row.checkpoint), list(row.info["labels"]))
    return model.module.merge_and_unload().encoder
