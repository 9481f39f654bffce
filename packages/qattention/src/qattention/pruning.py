"""Attention head pruning: score heads, drop the weakest, return a smaller working model.

Scores (higher = keep):

- ``svd``: the singular values of a head's output path. For head h with value block
  ``W_V^h`` (d x D) and output block ``W_O^h`` (D x d), the head writes ``W_O^h W_V^h x`` into
  the residual stream (the "OV circuit"); its nuclear norm (sum of singular values, the
  default), spectral norm or Frobenius norm says how much it can write. ``block="o"`` uses
  ``W_O^h`` alone. Data-free.
- ``importance``: Michel, Levy, Neubig (2019), "Are Sixteen Heads Really Better than One?":
  a gate xi_h = 1 multiplies each head's output; importance is ``sum over batches of
  |dL/dxi_h|`` for a loss you supply, L2-normalised per layer. transformers 5 no longer takes a
  ``head_mask``, so the gates are forward pre-hooks on the output projection.
- ``random``: a seeded baseline.

Layouts understood (found by attribute, transformers itself is never imported):

- BERT-style: a module with ``.self.query/.key/.value`` and ``.output.dense`` (BertAttention,
  RoBERTa, MiniLM...). transformers 5 removed ``prune_heads``; here the projections are sliced
  and ``num_attention_heads``/``all_head_size`` updated (the forward infers heads from shape).
- Llama-style: ``q_proj/k_proj/v_proj/o_proj`` with ``head_dim`` (Llama, Mistral, Qwen2...).
  With grouped-query attention one key/value head serves a group of query heads, so the unit
  pruned is the group (a KV head and its query heads; its score is the sum of theirs), which
  keeps ``num_key_value_groups`` valid. With as many KV as query heads the unit is the head.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from qattention.errors import InvalidArgument, UnsupportedModel


@dataclass
class AttentionBlock:
    """One attention layer's projections and head layout (rows of q/k/v, columns of o)."""

    name: str
    module: nn.Module
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    o: nn.Linear
    num_heads: int
    num_kv_heads: int
    head_dim: int
    style: str  # "bert" or "llama"

    @property
    def group(self) -> int:
        return self.num_heads // self.num_kv_heads

    @property
    def num_units(self) -> int:
        """Prunable units: KV groups (one per KV head)."""
        return self.num_kv_heads


def find_attention_blocks(model: nn.Module) -> list[AttentionBlock]:
    """Every attention layer of a BERT-style or Llama-style model, in module order."""
    if not isinstance(model, nn.Module):
        raise InvalidArgument(f"model must be a torch.nn.Module, got {type(model).__name__}")
    blocks = []
    for name, m in model.named_modules():
        self_attn = getattr(m, "self", None)
        out = getattr(getattr(m, "output", None), "dense", None)
        if (
            self_attn is not None
            and all(
                isinstance(getattr(self_attn, a, None), nn.Linear)
                for a in ("query", "key", "value")
            )
            and isinstance(out, nn.Linear)
        ):
            d = int(self_attn.attention_head_size)
            heads = self_attn.query.out_features // d
            blocks.append(
                AttentionBlock(
                    name,
                    m,
                    self_attn.query,
                    self_attn.key,
                    self_attn.value,
                    out,
                    heads,
                    heads,
                    d,
                    "bert",
                )
            )
        elif all(
            isinstance(getattr(m, a, None), nn.Linear)
            for a in ("q_proj", "k_proj", "v_proj", "o_proj")
        ) and isinstance(getattr(m, "head_dim", None), int):
            d = m.head_dim
            blocks.append(
                AttentionBlock(
                    name,
                    m,
                    m.q_proj,
                    m.k_proj,
                    m.v_proj,
                    m.o_proj,
                    m.q_proj.out_features // d,
                    m.k_proj.out_features // d,
                    d,
                    "llama",
                )
            )
    if not blocks:
        raise UnsupportedModel(
            f"no attention layers found in {type(model).__name__}: expected BERT-style "
            "(.self.query/.key/.value + .output.dense) or Llama-style (q_proj/k_proj/v_proj/"
            "o_proj + head_dim) modules"
        )
    return blocks


def _unit_scores(block: AttentionBlock, per_head: torch.Tensor) -> torch.Tensor:
    return per_head.view(block.num_kv_heads, block.group).sum(dim=1)


# ------------------------------------------------------------------------------------ scores


@torch.no_grad()
def svd_scores(
    model: nn.Module, *, block: str = "ov", norm: str = "nuclear"
) -> dict[str, torch.Tensor]:
    """Per-head scores (``num_heads`` per layer) from singular values of the output path."""
    if block not in ("ov", "o"):
        raise InvalidArgument(f"block must be 'ov' (W_O W_V) or 'o' (W_O alone), got {block!r}")
    reducers: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "nuclear": lambda s: s.sum(),
        "spectral": lambda s: s.max(),
        "frobenius": lambda s: s.square().sum().sqrt(),
    }
    if norm not in reducers:
        raise InvalidArgument(f"norm must be one of {sorted(reducers)}, got {norm!r}")
    # hundreds of tiny factorisations: one thread. With several, OpenMP's spinning threads
    # made this 60x slower on a loaded machine (9.8 s vs 0.15 s for MiniLM's 72 heads)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _svd_scores(model, block, reducers[norm])
    finally:
        torch.set_num_threads(threads)


def _svd_scores(
    model: nn.Module, block: str, reduce: Callable[[torch.Tensor], torch.Tensor]
) -> dict[str, torch.Tensor]:
    scores = {}
    for b in find_attention_blocks(model):
        d = b.head_dim
        w_o = b.o.weight.detach().double()
        w_v = b.v.weight.detach().double()
        values = []
        for h in range(b.num_heads):
            o_block = w_o[:, h * d : (h + 1) * d]
            kv = h // b.group
            if block == "ov":
                # W_O W_V (D x D, rank <= d) = Q1 (R1 R2^T) Q2^T with W_O = Q1 R1 and
                # W_V^T = Q2 R2: the same singular values from a d x d matrix
                r1 = torch.linalg.qr(o_block).R
                r2 = torch.linalg.qr(w_v[kv * d : (kv + 1) * d].T).R
                matrix = r1 @ r2.T
            else:
                matrix = o_block
            values.append(reduce(torch.linalg.svdvals(matrix)))
        scores[b.name] = torch.stack(values).float()
    return scores


def random_scores(model: nn.Module, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded uniform random per-head scores (the baseline)."""
    g = torch.Generator().manual_seed(seed)
    return {b.name: torch.rand(b.num_heads, generator=g) for b in find_attention_blocks(model)}


class HeadGates:
    """Context manager: a gate per head (1.0, differentiable) on every output projection.

    ``gates[name]`` is a ``(num_heads,)`` tensor; setting entries to 0 silences heads
    (what pruning will do), and its gradient is Michel et al.'s head importance signal.
    """

    def __init__(self, model: nn.Module, requires_grad: bool = False) -> None:
        self.blocks = find_attention_blocks(model)
        device = self.blocks[0].o.weight.device
        dtype = self.blocks[0].o.weight.dtype
        self.gates = {
            b.name: torch.ones(b.num_heads, device=device, dtype=dtype, requires_grad=requires_grad)
            for b in self.blocks
        }
        self._handles: list = []

    def __enter__(self) -> HeadGates:
        for b in self.blocks:
            gate = self.gates[b.name]
            d = b.head_dim

            def hook(_m: nn.Module, args: tuple, gate: torch.Tensor = gate, d: int = d) -> tuple:
                (x, *rest) = args
                return (x * gate.repeat_interleave(d).to(x.dtype), *rest)

            self._handles.append(b.o.register_forward_pre_hook(hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def importance_scores(
    model: nn.Module,
    batches: Iterable[object],
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    *,
    normalize: bool = True,
) -> dict[str, torch.Tensor]:
    """Michel et al. head importance: ``sum_batches |dL/dgate_h|``, L2-normalised per layer.

    ``loss_fn(model, batch)`` returns a scalar loss (e.g. a task or probe cross-entropy).
    Only the gates are differentiated (``torch.autograd.grad``): the model's ``.grad`` fields
    are left untouched.
    """
    if not callable(loss_fn):
        raise InvalidArgument("loss_fn must be a callable (model, batch) -> scalar loss")
    totals: dict[str, torch.Tensor] | None = None
    with HeadGates(model, requires_grad=True) as gates:
        names = list(gates.gates)
        for batch in batches:
            loss = loss_fn(model, batch)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise InvalidArgument("loss_fn must return a scalar tensor")
            grads = torch.autograd.grad(loss, [gates.gates[n] for n in names], allow_unused=True)
            step = {
                n: (torch.zeros_like(gates.gates[n]) if g is None else g.detach().abs())
                for n, g in zip(names, grads, strict=True)
            }
            totals = step if totals is None else {n: totals[n] + step[n] for n in names}
    if totals is None:
        raise InvalidArgument("batches is empty: importance needs at least one batch")
    if normalize:
        totals = {n: t / t.norm().clamp(min=1e-20) for n, t in totals.items()}
    return {n: t.float().cpu() for n, t in totals.items()}


# ----------------------------------------------------------------------------------- pruning


@dataclass
class PrunePlan:
    """Which heads (query-head indices) each layer keeps, and totals before/after."""

    keep: dict[str, list[int]]
    heads_before: int
    heads_after: int
    pruned: dict[str, list[int]] = field(default_factory=dict)


def plan_pruning(
    model: nn.Module,
    scores: dict[str, torch.Tensor],
    *,
    fraction: float | None = None,
    count: int | None = None,
    min_per_layer: int = 1,
) -> PrunePlan:
    """Drop the lowest-scoring units globally: ``fraction`` of all heads, or ``count`` heads.

    Units are KV groups (single heads without GQA). Each layer keeps at least
    ``min_per_layer`` units: a layer with no head left has nothing for its output projection
    to read, and BERT-style forwards cannot infer a head count from an empty projection.
    """
    blocks = find_attention_blocks(model)
    if (fraction is None) == (count is None):
        raise InvalidArgument("give exactly one of fraction (0 <= f < 1) and count (heads)")
    if isinstance(min_per_layer, bool) or not isinstance(min_per_layer, int) or min_per_layer < 1:
        raise InvalidArgument(f"min_per_layer must be an integer >= 1, got {min_per_layer!r}")
    units = [(b, u) for b in blocks for u in range(b.num_units)]
    total_heads = sum(b.num_heads for b in blocks)
    if fraction is not None:
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 <= fraction < 1
        ):
            raise InvalidArgument(f"fraction must be a number in [0, 1), got {fraction!r}")
        target_heads = round(fraction * total_heads)
    else:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidArgument(f"count must be an integer >= 0, got {count!r}")
        target_heads = count
    limit = sum((b.num_units - min_per_layer) * b.group for b in blocks)
    if target_heads > limit:
        raise InvalidArgument(
            f"cannot prune {target_heads} heads keeping min_per_layer={min_per_layer} unit(s) "
            f"per layer: at most {limit}; lower fraction/count or min_per_layer"
        )
    for b in blocks:
        s = scores.get(b.name)
        if s is None or tuple(s.shape) != (b.num_heads,):
            raise InvalidArgument(
                f"scores[{b.name!r}] must be a tensor of {b.num_heads} per-head scores, got "
                f"{None if s is None else tuple(s.shape)}"
            )
        if not torch.all(torch.isfinite(s)):
            raise InvalidArgument(f"scores[{b.name!r}] contains NaN or inf")
    unit_score = {b.name: _unit_scores(b, scores[b.name].float()) for b in blocks}
    order = sorted(units, key=lambda bu: float(unit_score[bu[0].name][bu[1]]))
    left = {b.name: b.num_units for b in blocks}
    dropped: dict[str, set[int]] = {b.name: set() for b in blocks}
    removed = 0
    for b, u in order:
        if removed + b.group > target_heads:
            # with equal groups everywhere this ends the loop; with mixed groups a smaller
            # unit further on may still fit, so keep scanning
            continue
        if left[b.name] <= min_per_layer:
            continue
        dropped[b.name].add(u)
        left[b.name] -= 1
        removed += b.group
    keep = {
        b.name: [h for h in range(b.num_heads) if h // b.group not in dropped[b.name]]
        for b in blocks
    }
    pruned = {b.name: [h for h in range(b.num_heads) if h not in keep[b.name]] for b in blocks}
    return PrunePlan(keep, total_heads, total_heads - removed, pruned)


def _slice_linear(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    # a new Linear with the selected output rows (dim 0) or input columns (dim 1)
    weight = layer.weight.detach().index_select(dim, index.to(layer.weight.device)).clone()
    new = nn.Linear(
        weight.shape[1],
        weight.shape[0],
        bias=layer.bias is not None,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        new.weight.copy_(weight)
        if layer.bias is not None:
            bias = layer.bias.detach()
            new.bias.copy_(bias.index_select(0, index.to(bias.device)) if dim == 0 else bias)
    new.weight.requires_grad_(layer.weight.requires_grad)
    return new


def _rows(heads: list[int], d: int) -> torch.Tensor:
    return torch.tensor([h * d + i for h in heads for i in range(d)], dtype=torch.long)


def apply_pruning(model: nn.Module, plan: PrunePlan, *, inplace: bool = False) -> nn.Module:
    """Slice every attention layer to the heads in ``plan``; a smaller model that runs."""
    if not isinstance(plan, PrunePlan):
        raise InvalidArgument(f"plan must be a PrunePlan, got {type(plan).__name__}")
    target = model if inplace else copy.deepcopy(model)
    for b in find_attention_blocks(target):
        if b.name not in plan.keep:
            raise InvalidArgument(f"plan has no entry for attention layer {b.name!r}")
        heads = plan.keep[b.name]
        if heads == list(range(b.num_heads)):
            continue
        kv_heads = sorted({h // b.group for h in heads})
        q_rows, kv_rows = _rows(heads, b.head_dim), _rows(kv_heads, b.head_dim)
        if b.style == "bert":
            attn = b.module.self
            attn.query = _slice_linear(b.q, q_rows, 0)
            attn.key = _slice_linear(b.k, q_rows, 0)
            attn.value = _slice_linear(b.v, q_rows, 0)
            b.module.output.dense = _slice_linear(b.o, q_rows, 1)
            attn.num_attention_heads = len(heads)
            attn.all_head_size = len(heads) * b.head_dim
        else:
            m = b.module
            m.q_proj = _slice_linear(b.q, q_rows, 0)
            m.k_proj = _slice_linear(b.k, kv_rows, 0)
            m.v_proj = _slice_linear(b.v, kv_rows, 0)
            m.o_proj = _slice_linear(b.o, q_rows, 1)
            # the group size is unchanged (whole groups go), so num_key_value_groups stays valid
            m.num_heads = len(heads)
            m.num_key_value_heads = len(kv_heads)
    return target


def prune_heads(
    model: nn.Module,
    scores: dict[str, torch.Tensor],
    *,
    fraction: float | None = None,
    count: int | None = None,
    min_per_layer: int = 1,
    inplace: bool = False,
) -> tuple[nn.Module, PrunePlan]:
    """:func:`plan_pruning` then :func:`apply_pruning`; returns the pruned model and plan."""
    plan = plan_pruning(model, scores, fraction=fraction, count=count, min_per_layer=min_per_layer)
    return apply_pruning(model, plan, inplace=inplace), plan


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (the pruned model's size)."""
    return sum(p.numel() for p in model.parameters())


def masked_fraction(plan: PrunePlan) -> float:
    """Fraction of heads removed by ``plan``."""
    return 1.0 - plan.heads_after / plan.heads_before if plan.heads_before else math.nan
