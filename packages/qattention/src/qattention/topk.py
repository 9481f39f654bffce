"""Exact top-k attention, computed in query chunks so that memory grows linearly with length.

Gupta, Dar, Goodman, Ciprut, Berant (2021), "Memory-efficient Transformers via Top-k
Attention": every query attends only to its ``top_k`` highest-scoring keys, and queries are
processed in chunks, so no ``L x S`` score matrix is ever held whole: one chunk's scores
(``chunk x S``) live at a time, and what autograd keeps per chunk is ``chunk x top_k``.

Shapes and mask semantics are those of ``torch.nn.functional.scaled_dot_product_attention``:
``q`` is ``(..., L, E)``, ``k`` is ``(..., S, E)``, ``v`` is ``(..., S, Ev)``, batch dims
broadcast; a boolean ``attn_mask`` says True = may attend, a float mask is added to the
scores; ``is_causal`` is the top-left aligned lower triangle. A query row whose keys are all
masked gives zeros (and zero gradient), as SDPA does in torch >= 2.5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from qattention.errors import InvalidArgument, InvalidShape

# one query chunk's score block is kept below this many elements when chunk_size is not given
# (16 MiB of float32, 256 queries x 16k keys): large enough that the matrix products stay
# efficient, small enough that a 16k x 16k problem never materialises its 1 GiB score matrix
_CHUNK_ELEMENTS = 1 << 22


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_tensors(q: object, k: object, v: object) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise InvalidArgument(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise InvalidShape(f"{name} must have shape (..., length, dim), got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise InvalidArgument(f"{name} must be a floating-point tensor, got {t.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise InvalidShape(
            f"q and k must share the last (embedding) dim, got q {tuple(q.shape)} and "
            f"k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise InvalidShape(
            f"k and v must share the key length (dim -2), got k {tuple(k.shape)} and "
            f"v {tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype):
        raise InvalidArgument(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise InvalidArgument(
            f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}"
        )


def _repeat_kv(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    # grouped-query attention as SDPA's enable_gqa: query head h reads key head h // group
    if q.dim() < 3 or k.dim() < 3 or v.dim() < 3:
        raise InvalidShape("enable_gqa needs a head dim: q, k, v of shape (..., heads, L, E)")
    hq, hk = q.shape[-3], k.shape[-3]
    if v.shape[-3] != hk or hk == 0 or hq % hk:
        raise InvalidShape(
            f"enable_gqa: query heads ({hq}) must be a multiple of key/value heads "
            f"(k {hk}, v {v.shape[-3]})"
        )
    group = hq // hk
    return k.repeat_interleave(group, dim=-3), v.repeat_interleave(group, dim=-3)


def _check_mask(
    attn_mask: object, batch: torch.Size, length: int, keys: int, q: torch.Tensor
) -> torch.Tensor:
    if not isinstance(attn_mask, torch.Tensor):
        raise InvalidArgument(
            f"attn_mask must be a torch.Tensor (bool or float), got {type(attn_mask).__name__}"
        )
    if attn_mask.dtype != torch.bool and not attn_mask.is_floating_point():
        raise InvalidArgument(
            f"attn_mask must be bool (True = attend) or floating point (added), got "
            f"{attn_mask.dtype}"
        )
    if attn_mask.device != q.device:
        raise InvalidArgument(f"attn_mask is on {attn_mask.device}, q on {q.device}")
    target = (*batch, length, keys)
    try:
        torch.broadcast_shapes(attn_mask.shape, target)
        # expand is a view: a (L, S) or (B, 1, 1, S) padding mask costs no memory here
        return attn_mask.expand(target)
    except RuntimeError:
        raise InvalidShape(
            f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the scores "
            f"{target} (batch..., L, S)"
        ) from None


def _safe_softmax(scores: torch.Tensor) -> torch.Tensor:
    # a row with no finite score (every key masked) gets weight 0 everywhere, as SDPA;
    # torch.where keeps the gradient of such rows at 0 instead of NaN
    alive = torch.isfinite(scores.amax(dim=-1, keepdim=True))
    weights = torch.softmax(torch.where(alive, scores, torch.zeros_like(scores)), dim=-1)
    return torch.where(alive, weights, torch.zeros_like(weights))


def topk_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    top_k: int,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Attention where each query uses only its ``top_k`` best keys (exact, not approximate).

    Arguments follow ``torch.nn.functional.scaled_dot_product_attention`` (``scale`` defaults
    to ``1/sqrt(E)``; ``enable_gqa`` repeats key/value heads for grouped-query attention).
    ``top_k >= S`` (the key length) is plain attention and is handed to SDPA. Otherwise keys
    are ranked after the mask is applied, so a row with fewer than ``top_k`` allowed keys
    attends to exactly those; masked keys never receive weight. ``chunk_size`` queries are
    scored at a time (default: as many as keep one chunk's scores under 2^22 elements).
    Returns ``(..., L, Ev)``. Differentiable in ``q``, ``k``, ``v`` and a float mask.
    """
    _check_tensors(q, k, v)
    _check_int(top_k, "top_k", 1)
    if chunk_size is not None:
        _check_int(chunk_size, "chunk_size", 1)
    if not isinstance(is_causal, bool):
        raise InvalidArgument(f"is_causal must be a bool, got {is_causal!r}")
    if is_causal and attn_mask is not None:
        raise InvalidArgument(
            "attn_mask and is_causal are exclusive (as in SDPA): fold the causal triangle "
            "into attn_mask, or pass only is_causal=True"
        )
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale)
    ):
        raise InvalidArgument(f"scale must be a finite number or None, got {scale!r}")
    if enable_gqa:
        k, v = _repeat_kv(q, k, v)
    try:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise InvalidShape(
            f"batch dims of q {tuple(q.shape[:-2])}, k {tuple(k.shape[:-2])} and "
            f"v {tuple(v.shape[:-2])} do not broadcast"
        ) from None
    length, keys = q.shape[-2], k.shape[-2]
    mask = None if attn_mask is None else _check_mask(attn_mask, batch, length, keys, q)
    if top_k >= keys:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale
        )
    return _chunked_topk(q, k, v, top_k, mask, is_causal, scale, batch, chunk_size)


def _chunked_topk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    top_k: int,
    mask: torch.Tensor | None,
    is_causal: bool,
    scale: float | None,
    batch: torch.Size,
    chunk_size: int | None,
) -> torch.Tensor:
    # the algorithm proper, on checked arguments; also valid for top_k == S (tests use that
    # to compare it with SDPA without going through the fallback)
    length, keys = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    rows = max(1, math.prod(batch)) * max(1, keys)
    chunk = chunk_size or max(1, _CHUNK_ELEMENTS // rows)
    q = q.expand(*batch, length, q.shape[-1])
    k_t = k.expand(*batch, keys, k.shape[-1]).transpose(-1, -2)
    flat_v = v.expand(*batch, keys, v.shape[-1]).reshape(-1, keys, v.shape[-1])
    outs = []
    for start in range(0, length, chunk):
        stop = min(start + chunk, length)
        scores = torch.matmul(q[..., start:stop, :], k_t) * scale
        if mask is not None:
            block = mask[..., start:stop, :]
            if block.dtype == torch.bool:
                scores = scores.masked_fill(~block, float("-inf"))
            else:
                scores = scores + block
        if is_causal:
            rows_i = torch.arange(start, stop, device=q.device).unsqueeze(-1)
            cols = torch.arange(keys, device=q.device)
            scores = scores.masked_fill(cols > rows_i, float("-inf"))
        best, index = scores.topk(top_k, dim=-1, sorted=False)
        weights = _safe_softmax(best)
        outs.append(_weighted_values(weights, index, flat_v))
    return torch.cat(outs, dim=-2)


def _weighted_values(
    weights: torch.Tensor, index: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    """``sum_j weights[b, i, j] * values[b, index[b, i, j], :]`` for a chunk of queries.

    ``values`` is ``(B, S, Ev)`` with the batch flattened. Advanced indexing (not
    ``torch.gather`` on an expanded view, whose backward allocates ``chunk x S x Ev``) keeps
    both passes at ``chunk x top_k x Ev`` plus one ``S x Ev`` gradient buffer.
    """
    flat_w = weights.reshape(values.shape[0], -1, 1, weights.shape[-1])
    flat_i = index.reshape(values.shape[0], -1, index.shape[-1])
    rows = torch.arange(values.shape[0], device=values.device).view(-1, 1, 1)
    picked = values[rows, flat_i]  # (B, chunk, top_k, Ev)
    out = torch.matmul(flat_w, picked).squeeze(-2)
    return out.reshape(*index.shape[:-1], values.shape[-1])


def naive_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    *,
    scale: float | None = None,
) -> torch.Tensor:
    """Textbook attention, ``softmax(q k^T * scale + mask) v`` with the full score matrix.

    The memory baseline of the benchmark (it holds ``L x S`` scores); same mask semantics.
    """
    _check_tensors(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    length, keys = q.shape[-2], k.shape[-2]
    if is_causal:
        causal = torch.ones(length, keys, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return torch.matmul(_safe_softmax(scores), v)
