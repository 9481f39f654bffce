"""topk_attention against SDPA, brute force, masks, autograd, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from qattention import InvalidArgument, InvalidShape, TopKAttention, naive_attention, topk_attention
from qattention.topk import _chunked_topk

TOL = 1e-6


def _qkv(seed: int, b=2, h=3, L=19, S=23, e=8, ev=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, h, L, e, generator=g, dtype=dtype),
        torch.randn(b, h, S, e, generator=g, dtype=dtype),
        torch.randn(b, h, S, ev, generator=g, dtype=dtype),
    )


def _brute_force(q, k, v, top_k, mask=None):
    # one query at a time, by sorting: an independent reference for the chunked kernel
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.zeros(*scores.shape[:-1], v.shape[-1], dtype=q.dtype)
    for idx in torch.cartesian_prod(*[torch.arange(n) for n in scores.shape[:-1]]):
        row = scores[tuple(idx)]
        order = torch.argsort(row, descending=True)[:top_k]
        order = order[torch.isfinite(row[order])]
        if len(order):
            w = torch.softmax(row[order], 0)
            out[tuple(idx)] = w @ v[tuple(idx[:-1])][order]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_k_equal_length_matches_sdpa_without_mask(dtype):
    q, k, v = _qkv(0, dtype=dtype)
    ref = F.scaled_dot_product_attention(q, k, v)
    # the chunked kernel itself (not the SDPA fallback) with every key kept
    out = _chunked_topk(q, k, v, k.shape[-2], None, False, None, q.shape[:-2], 4)
    assert torch.allclose(out, ref, atol=TOL, rtol=0)
    assert torch.allclose(topk_attention(q, k, v, k.shape[-2]), ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_k_equal_length_matches_sdpa_with_masks(dtype):
    q, k, v = _qkv(1, dtype=dtype)
    g = torch.Generator().manual_seed(1)
    bool_mask = torch.rand(2, 1, 19, 23, generator=g) > 0.4
    bool_mask[0, 0, 5] = False  # a fully masked row
    float_mask = torch.randn(1, 3, 19, 23, generator=g, dtype=dtype)
    padding = torch.ones(2, 1, 1, 23, dtype=torch.bool)
    padding[1, ..., 17:] = False
    for mask in (bool_mask, float_mask, padding):
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        expanded = mask.expand(2, 3, 19, 23)
        out = _chunked_topk(q, k, v, 23, expanded, False, None, q.shape[:-2], 5)
        assert torch.allclose(out, ref, atol=TOL, rtol=0)
        assert torch.allclose(topk_attention(q, k, v, 23, attn_mask=mask), ref, atol=TOL)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = _chunked_topk(q, k, v, 23, None, True, None, q.shape[:-2], 3)
    assert torch.allclose(out, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("top_k", [1, 4, 11])
def test_matches_brute_force_top_k(top_k):
    q, k, v = _qkv(2, b=1, h=2, L=9, S=13)
    mask = torch.rand(1, 2, 9, 13, generator=torch.Generator().manual_seed(3)) > 0.3
    mask[0, 1, 2] = False
    for m in (None, mask):
        out = topk_attention(q, k, v, top_k, attn_mask=m, chunk_size=4)
        assert torch.allclose(out, _brute_force(q, k, v, top_k, m), atol=1e-10)


def test_rows_with_fewer_allowed_keys_than_top_k_use_exactly_those():
    q, k, v = _qkv(4, b=1, h=1, L=6, S=10)
    mask = torch.zeros(6, 10, dtype=torch.bool)
    mask[:, :2] = True  # two allowed keys per row, top_k = 5
    out = topk_attention(q, k, v, 5, attn_mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, ref, atol=1e-12)
    causal = topk_attention(q, k, v, 5, is_causal=True)
    assert torch.allclose(causal, _brute_force(q, k, v, 5, torch.ones(6, 10).tril().bool()))


def test_fully_masked_rows_give_zeros_and_zero_gradient_like_sdpa():
    q, k, v = _qkv(5, b=1, h=1, L=4, S=8)
    mask = torch.ones(4, 8, dtype=torch.bool)
    mask[2] = False
    q.requires_grad_(True)
    out = topk_attention(q, k, v, 3, attn_mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(out[..., 2, :], ref[..., 2, :])
    assert torch.all(out[..., 2, :] == 0)
    out.sum().backward()
    assert torch.all(torch.isfinite(q.grad))
    assert torch.all(q.grad[..., 2, :] == 0)


def test_top_k_one_picks_the_argmax_value():
    q, k, v = _qkv(6, b=1, h=1, L=5, S=9)
    best = (q @ k.transpose(-1, -2)).argmax(-1)
    out = topk_attention(q, k, v, 1)
    assert torch.allclose(out[0, 0], v[0, 0][best[0, 0]])


def test_broadcast_batch_dims_and_gqa():
    g = torch.Generator().manual_seed(7)
    q = torch.randn(2, 4, 10, 8, generator=g, dtype=torch.float64)
    k = torch.randn(1, 4, 12, 8, generator=g, dtype=torch.float64)  # broadcast over batch
    v = torch.randn(1, 4, 12, 8, generator=g, dtype=torch.float64)
    out = topk_attention(q, k, v, 12)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=TOL)
    kv = torch.randn(2, 2, 12, 8, generator=g, dtype=torch.float64)
    ref = F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
    out = _chunked_topk(
        q, *([kv.repeat_interleave(2, 1)] * 2), 12, None, False, None, q.shape[:-2], 3
    )
    assert torch.allclose(out, ref, atol=TOL)
    sparse = topk_attention(q, kv, kv, 4, enable_gqa=True)
    assert torch.allclose(sparse, _brute_force(q, *([kv.repeat_interleave(2, 1)] * 2), 4))


def test_three_dim_and_two_dim_inputs():
    q, k, v = _qkv(8, b=1, h=1, L=7, S=9)
    assert torch.allclose(topk_attention(q[0], k[0], v[0], 3), topk_attention(q, k, v, 3)[0])
    assert topk_attention(q[0, 0], k[0, 0], v[0, 0], 3).shape == (7, 5)


def test_gradcheck_float64():
    q, k, v = _qkv(9, b=1, h=2, L=5, S=7, e=4, ev=3)
    fmask = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    inputs = tuple(t.clone().requires_grad_(True) for t in (q, k, v, fmask))
    assert torch.autograd.gradcheck(
        lambda a, b, c, m: topk_attention(a, b, c, 3, attn_mask=m, chunk_size=2), inputs
    )
    bmask = torch.ones(5, 7, dtype=torch.bool)
    bmask[1, 3:] = False
    assert torch.autograd.gradcheck(
        lambda a, b, c: topk_attention(a, b, c, 4, attn_mask=bmask), inputs[:3]
    )
    assert torch.autograd.gradcheck(
        lambda a, b, c: topk_attention(a, b, c, 2, is_causal=True), inputs[:3]
    )


def test_naive_attention_matches_sdpa():
    q, k, v = _qkv(10)
    mask = torch.rand(19, 23, generator=torch.Generator().manual_seed(10)) > 0.5
    assert torch.allclose(
        naive_attention(q, k, v, mask),
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        atol=TOL,
    )
    assert torch.allclose(
        naive_attention(q, k, v, is_causal=True),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
        atol=TOL,
    )


def test_module_is_a_drop_in_for_multihead_attention():
    torch.manual_seed(11)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).double()
    x = torch.randn(2, 10, 16, dtype=torch.float64)
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[1, 7:] = True
    layer = TopKAttention.from_multihead_attention(mha, top_k=10)
    ref, _ = mha(x, x, x, key_padding_mask=pad, need_weights=False)
    out = layer(x, key_padding_mask=pad)
    assert torch.allclose(out[0], ref[0], atol=TOL)
    assert torch.allclose(out[1, :7], ref[1, :7], atol=TOL)
    causal = torch.ones(10, 10).triu(1).bool()
    ref, _ = mha(x, x, x, attn_mask=causal, need_weights=False)
    assert torch.allclose(layer(x, is_causal=True), ref, atol=TOL)
    sparse = TopKAttention.from_multihead_attention(mha, top_k=3)(x, key_padding_mask=pad)
    assert sparse.shape == x.shape and not torch.allclose(sparse, out)
    sparse.sum().backward()


def test_module_gqa_and_bad_input():
    layer = TopKAttention(32, 8, 4, num_kv_heads=2)
    assert layer.k_proj.out_features == 8
    assert layer(torch.randn(1, 6, 32)).shape == (1, 6, 32)
    with pytest.raises(InvalidArgument, match="num_kv_heads"):
        TopKAttention(32, 8, 4, num_kv_heads=3)
    with pytest.raises(InvalidArgument, match="divisible"):
        TopKAttention(30, 8, 4)
    with pytest.raises(InvalidShape, match="query"):
        layer(torch.randn(1, 6, 31))
    with pytest.raises(InvalidShape, match="key_padding_mask"):
        layer(torch.randn(1, 6, 32), key_padding_mask=torch.zeros(1, 5, dtype=torch.bool))


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"top_k": 0}, InvalidArgument, "top_k"),
        ({"top_k": 2.0}, InvalidArgument, "top_k"),
        ({"top_k": True}, InvalidArgument, "top_k"),
        ({"top_k": 2, "chunk_size": 0}, InvalidArgument, "chunk_size"),
        ({"top_k": 2, "scale": float("nan")}, InvalidArgument, "scale"),
        ({"top_k": 2, "is_causal": 1}, InvalidArgument, "is_causal"),
        ({"top_k": 2, "attn_mask": torch.ones(3, 3, dtype=torch.bool)}, InvalidShape, "attn_mask"),
        (
            {"top_k": 2, "attn_mask": torch.ones(5, 7, dtype=torch.int64)},
            InvalidArgument,
            "attn_mask",
        ),
        ({"top_k": 2, "attn_mask": [[True]]}, InvalidArgument, "attn_mask"),
        (
            {"top_k": 2, "attn_mask": torch.ones(5, 7, dtype=torch.bool), "is_causal": True},
            InvalidArgument,
            "exclusive",
        ),
        ({"top_k": 2, "enable_gqa": True}, InvalidShape, "enable_gqa"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, error, field):
    q, k, v = _qkv(12, b=1, h=3, L=5, S=7)
    if kwargs.get("enable_gqa"):
        k, v = k[:, :2], v[:, :2]
    with pytest.raises(error, match=field):
        topk_attention(q, k, v, **kwargs)


def test_bad_tensors_name_the_tensor():
    q, k, v = _qkv(13, b=1, h=1, L=5, S=7)
    with pytest.raises(InvalidShape, match="q and k"):
        topk_attention(q, k[..., :3], v, 2)
    with pytest.raises(InvalidShape, match="k and v"):
        topk_attention(q, k, v[..., :4, :], 2)
    with pytest.raises(InvalidArgument, match="q must be a torch"):
        topk_attention(q.numpy(), k, v, 2)
    with pytest.raises(InvalidArgument, match="floating"):
        topk_attention(q.long(), k, v, 2)
    with pytest.raises(InvalidArgument, match="dtype"):
        topk_attention(q.float(), k, v, 2)
    with pytest.raises(InvalidShape, match="do not broadcast"):
        topk_attention(q, torch.cat([k, k]), torch.cat([v, v, v]), 2)


@settings(max_examples=40, deadline=None)
@given(
    L=st.integers(1, 9),
    S=st.integers(1, 9),
    top_k=st.integers(1, 10),
    chunk=st.integers(1, 10),
    seed=st.integers(0, 1000),
    masked=st.booleans(),
)
def test_fuzz_against_brute_force(L, S, top_k, chunk, seed, masked):
    q, k, v = _qkv(seed, b=1, h=1, L=L, S=S, e=3, ev=2)
    mask = torch.rand(L, S, generator=torch.Generator().manual_seed(seed)) > 0.5 if masked else None
    out = topk_attention(q, k, v, top_k, attn_mask=mask, chunk_size=chunk)
    assert torch.allclose(out, _brute_force(q, k, v, min(top_k, S), mask), atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_and_sdpa():
    q, k, v = _qkv(14, b=2, h=4, L=300, S=310, e=32, ev=16, dtype=torch.float32)
    mask = torch.rand(2, 1, 300, 310, generator=torch.Generator().manual_seed(14)) > 0.3
    mask[0, 0, 7] = False
    dev = [t.cuda() for t in (q, k, v)]
    for top_k in (1, 17, 310):
        for m, causal in ((None, False), (mask, False), (None, True)):
            cpu = topk_attention(q, k, v, top_k, attn_mask=m, is_causal=causal)
            gpu = topk_attention(
                *dev,
                top_k,
                attn_mask=None if m is None else m.cuda(),
                is_causal=causal,
                chunk_size=64,
            )
            assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)
    ref = F.scaled_dot_product_attention(*dev, attn_mask=mask.cuda())
    kern = _chunked_topk(
        *dev, 310, mask.cuda().expand(2, 4, 300, 310), False, None, q.shape[:-2], 64
    )
    assert torch.allclose(kern, ref, atol=TOL)
    grads = [t.clone().requires_grad_(True) for t in dev]
    topk_attention(*grads, 9, attn_mask=mask.cuda()).sum().backward()
    assert all(torch.isfinite(g.grad).all() for g in grads)
    assert torch.all(grads[0].grad[0, :, 7] == 0)
