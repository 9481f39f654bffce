"""``TopKAttention``: a multi-head self-attention layer that uses :func:`topk_attention`."""

from __future__ import annotations

import torch
from torch import nn

from qattention.errors import InvalidArgument, InvalidShape
from qattention.topk import topk_attention


class TopKAttention(nn.Module):
    """Multi-head (optionally grouped-query) attention over the ``top_k`` best keys per query.

    ``forward(query, key=None, value=None, attn_mask=None, key_padding_mask=None,
    is_causal=False)`` takes ``(B, L, D)`` tensors (batch first; ``key``/``value`` default to
    ``query``: self-attention) and returns ``(B, L, D)``. ``key_padding_mask`` is ``(B, S)``
    with True = padding (``nn.MultiheadAttention``'s convention); ``attn_mask`` follows SDPA
    (bool True = attend, float added), broadcast to ``(B, heads, L, S)``. ``num_kv_heads``
    smaller than ``num_heads`` gives grouped-query attention. Weights can be copied from an
    ``nn.MultiheadAttention`` with :meth:`from_multihead_attention` (a drop-in swap).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        top_k: int,
        *,
        num_kv_heads: int | None = None,
        bias: bool = True,
        chunk_size: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads), ("top_k", top_k)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
        if embed_dim % num_heads:
            raise InvalidArgument(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if isinstance(kv_heads, bool) or not isinstance(kv_heads, int) or kv_heads < 1:
            raise InvalidArgument(f"num_kv_heads must be a positive integer, got {kv_heads!r}")
        if num_heads % kv_heads:
            raise InvalidArgument(
                f"num_heads ({num_heads}) must be a multiple of num_kv_heads ({kv_heads})"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.num_kv_heads = kv_heads
        self.head_dim = embed_dim // num_heads
        self.top_k = top_k
        self.chunk_size = chunk_size
        kw = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.k_proj = nn.Linear(embed_dim, kv_heads * self.head_dim, bias=bias, **kw)
        self.v_proj = nn.Linear(embed_dim, kv_heads * self.head_dim, bias=bias, **kw)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)

    @classmethod
    def from_multihead_attention(cls, mha: nn.MultiheadAttention, top_k: int) -> TopKAttention:
        """A ``TopKAttention`` with the weights of a batch-first ``nn.MultiheadAttention``."""
        if not isinstance(mha, nn.MultiheadAttention):
            raise InvalidArgument(f"mha must be nn.MultiheadAttention, got {type(mha).__name__}")
        if not mha.batch_first or not mha._qkv_same_embed_dim or mha.bias_k is not None:
            raise InvalidArgument(
                "mha must be built with batch_first=True, equal q/k/v dims and no add_bias_kv"
            )
        weight = mha.in_proj_weight
        layer = cls(
            mha.embed_dim,
            mha.num_heads,
            top_k,
            bias=mha.in_proj_bias is not None,
            device=weight.device,
            dtype=weight.dtype,
        )
        d = mha.embed_dim
        with torch.no_grad():
            for i, proj in enumerate((layer.q_proj, layer.k_proj, layer.v_proj)):
                proj.weight.copy_(weight[i * d : (i + 1) * d])
                if mha.in_proj_bias is not None:
                    proj.bias.copy_(mha.in_proj_bias[i * d : (i + 1) * d])
            layer.out_proj.weight.copy_(mha.out_proj.weight)
            if mha.out_proj.bias is not None:
                layer.out_proj.bias.copy_(mha.out_proj.bias)
        return layer

    def _heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, torch.Tensor) or t.dim() != 3 or t.shape[-1] != self.embed_dim:
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise InvalidShape(f"{name} must be (batch, length, {self.embed_dim}), got {shape}")
        q = self._heads(self.q_proj(query), self.num_heads)
        k = self._heads(self.k_proj(key), self.num_kv_heads)
        v = self._heads(self.v_proj(value), self.num_kv_heads)
        mask = attn_mask
        if key_padding_mask is not None:
            if key_padding_mask.dtype != torch.bool or key_padding_mask.shape != key.shape[:2]:
                raise InvalidShape(
                    f"key_padding_mask must be a bool tensor of shape {tuple(key.shape[:2])} "
                    "(True = padding)"
                )
            keep = ~key_padding_mask[:, None, None, :]
            if mask is None:
                mask = keep
            elif mask.dtype == torch.bool:
                mask = mask & keep
            else:
                mask = mask.masked_fill(~keep, float("-inf"))
            if is_causal:
                length, keys = query.shape[1], key.shape[1]
                causal = torch.ones(length, keys, dtype=torch.bool, device=query.device).tril()
                mask = (
                    mask & causal
                    if mask.dtype == torch.bool
                    else mask.masked_fill(~causal, float("-inf"))
                )
                is_causal = False
        out = topk_attention(
            q,
            k,
            v,
            self.top_k,
            attn_mask=mask,
            is_causal=is_causal,
            enable_gqa=self.num_kv_heads != self.num_heads,
            chunk_size=self.chunk_size,
        )
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.embed_dim))
