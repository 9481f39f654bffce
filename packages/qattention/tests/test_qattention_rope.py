"""RoPE against transformers (Llama, Bamba, modeling_rope_utils), relative-position property,
sinusoidal encodings, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qattention.errors import InvalidArgument, InvalidShape
from qattention.rope import (
    RopeConfig,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    apply_rotary_pos_emb,
    rope_frequencies,
    sinusoidal_encoding,
)

transformers = pytest.importorskip("transformers")
from transformers import LlamaConfig  # noqa: E402
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402
from transformers.models.bamba import modeling_bamba  # noqa: E402
from transformers.models.llama import modeling_llama  # noqa: E402

HEAD_DIM = 32


def _hf_config(rope_parameters: dict, head_dim: int = HEAD_DIM) -> LlamaConfig:
    return LlamaConfig(
        hidden_size=head_dim * 4,
        num_attention_heads=4,
        head_dim=head_dim,
        max_position_embeddings=4096,
        rope_parameters=rope_parameters,
    )


CASES = [
    (RopeConfig(HEAD_DIM), {"rope_type": "default", "rope_theta": 10000.0}),
    (RopeConfig(HEAD_DIM, base=500000.0), {"rope_type": "default", "rope_theta": 500000.0}),
    (
        RopeConfig(HEAD_DIM, scaling="linear", factor=4.0),
        {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
    ),
    (
        RopeConfig(HEAD_DIM, scaling="yarn", factor=8.0, original_max_position=1024),
        {
            "rope_type": "yarn",
            "rope_theta": 10000.0,
            "factor": 8.0,
            "original_max_position_embeddings": 1024,
        },
    ),
    (
        RopeConfig(
            HEAD_DIM,
            base=1e6,
            scaling="yarn",
            factor=4.0,
            original_max_position=2048,
            beta_fast=16.0,
            beta_slow=2.0,
            truncate=False,
        ),
        {
            "rope_type": "yarn",
            "rope_theta": 1e6,
            "factor": 4.0,
            "original_max_position_embeddings": 2048,
            "beta_fast": 16.0,
            "beta_slow": 2.0,
            "truncate": False,
        },
    ),
]


@pytest.mark.parametrize(("ours", "params"), CASES)
def test_cos_sin_and_rotation_equal_llama(ours, params):
    hf = modeling_llama.LlamaRotaryEmbedding(_hf_config(params))
    mine = RotaryEmbedding(ours)
    assert torch.equal(mine.inv_freq, hf.inv_freq)
    assert mine.attention_scaling == pytest.approx(hf.attention_scaling, rel=1e-12)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 50, HEAD_DIM, generator=g)
    pos = torch.tensor([list(range(50)), list(range(3000, 3050))])
    cos_hf, sin_hf = hf(x, pos)
    cos, sin = mine(x, pos)
    assert torch.allclose(cos, cos_hf, atol=1e-6) and torch.allclose(sin, sin_hf, atol=1e-6)
    q, k = (
        torch.randn(2, 4, 50, HEAD_DIM, generator=g),
        torch.randn(2, 2, 50, HEAD_DIM, generator=g),
    )
    ref_q, _ = modeling_llama.apply_rotary_pos_emb(q, q, cos_hf, sin_hf)
    _, ref_k = modeling_llama.apply_rotary_pos_emb(k, k, cos_hf, sin_hf)
    out_q, out_k = apply_rotary_pos_emb(q, k, cos, sin)
    assert torch.allclose(out_q, ref_q, atol=1e-5) and torch.allclose(out_k, ref_k, atol=1e-5)


@pytest.mark.parametrize("seq_len", [None, 4096, 10000])
def test_dynamic_ntk_equals_hf_dynamic(seq_len):
    config = _hf_config({"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})
    ref, _ = ROPE_INIT_FUNCTIONS["dynamic"](config, None, seq_len=seq_len)
    ours, scale = rope_frequencies(
        RopeConfig(HEAD_DIM, scaling="dynamic", factor=2.0, original_max_position=4096),
        seq_len=seq_len,
    )
    assert torch.allclose(ours, ref, rtol=1e-6) and scale == 1.0


def test_dynamic_module_follows_the_longest_position():
    config = RopeConfig(HEAD_DIM, scaling="dynamic", factor=2.0, original_max_position=64)
    rope = RotaryEmbedding(config)
    x = torch.zeros(1, 1, 1, HEAD_DIM)
    short = rope(x, torch.arange(10).unsqueeze(0))[0]
    plain = RotaryEmbedding(RopeConfig(HEAD_DIM))(x, torch.arange(10).unsqueeze(0))[0]
    assert torch.equal(short, plain)  # inside the trained context nothing changes
    long = rope(x, torch.arange(200).unsqueeze(0))[0][:, :10]
    assert not torch.allclose(long, plain, atol=1e-4)


@pytest.mark.parametrize("factor", [0.5, 0.25])
def test_partial_rotary_equals_bamba_style_partial_application(factor):
    rot = int(HEAD_DIM * factor)
    params = {
        "rope_type": "linear",
        "rope_theta": 10000.0,
        "factor": 2.0,
        "partial_rotary_factor": factor,
    }
    ref_inv, _ = ROPE_INIT_FUNCTIONS["linear"](_hf_config(params), None)
    ours = RotaryEmbedding(
        RopeConfig(HEAD_DIM, partial_rotary_factor=factor, scaling="linear", factor=2.0)
    )
    assert ours.inv_freq.shape == (rot // 2,) and torch.allclose(ours.inv_freq, ref_inv)
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 7, HEAD_DIM, generator=g)
    cos, sin = ours(q, torch.arange(7).unsqueeze(0))
    ref_q, _ = modeling_bamba.apply_rotary_pos_emb(q, q, cos, sin)
    out = apply_rotary(q, cos, sin)
    assert torch.allclose(out, ref_q, atol=1e-6)
    assert torch.equal(out[..., rot:], q[..., rot:])


def test_ntk_keeps_the_highest_frequency_and_divides_the_lowest_by_factor():
    plain, _ = rope_frequencies(RopeConfig(HEAD_DIM))
    ntk, _ = rope_frequencies(RopeConfig(HEAD_DIM, scaling="ntk", factor=8.0))
    assert ntk[0] == pytest.approx(1.0)
    assert float(ntk[-1]) == pytest.approx(float(plain[-1]) / 8.0, rel=1e-5)
    assert torch.all(ntk <= plain + 1e-9)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(0, 3000),
    n=st.integers(0, 3000),
    shift=st.integers(0, 3000),
    scaling=st.sampled_from(["none", "linear", "ntk", "yarn"]),
)
def test_dot_product_depends_only_on_relative_position(m, n, shift, scaling):
    config = RopeConfig(16, scaling=scaling, factor=4.0, original_max_position=512)
    rope = RotaryEmbedding(config)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 1, 16, generator=g, dtype=torch.float64)
    k = torch.randn(1, 1, 1, 16, generator=g, dtype=torch.float64)

    def dot(a: int, b: int) -> float:
        pos = torch.tensor([[a, b]])
        cos, sin = rope(q, pos)
        qa = apply_rotary(q, cos[:, :1], sin[:, :1])
        kb = apply_rotary(k, cos[:, 1:], sin[:, 1:])
        return float((qa * kb).sum())

    # float32 angles (HF's convention) make the phase accurate to ~1e-4 rad at 6000
    assert dot(m, n) == pytest.approx(dot(m + shift, n + shift), abs=5e-3)
    if m == n:
        scale = rope.attention_scaling**2
        assert dot(m, n) == pytest.approx(scale * float((q * k).sum()), abs=1e-3)


def test_sinusoidal_encoding_matches_the_formula_and_module_adds_it():
    table = sinusoidal_encoding(50, 9, dtype=torch.float64)
    for p, i in [(0, 0), (7, 2), (49, 3)]:
        angle = p / 10000 ** (2 * i / 9)
        assert table[p, 2 * i] == pytest.approx(math.sin(angle))
        assert table[p, 2 * i + 1] == pytest.approx(math.cos(angle))
    assert table.shape == (50, 9)
    # relative shift is a fixed rotation of each (sin, cos) pair: norm per pair is 1
    pairs = sinusoidal_encoding(20, 8).view(20, 4, 2)
    assert torch.allclose(pairs.norm(dim=-1), torch.ones(20, 4))
    module = SinusoidalPositionalEncoding(8, max_length=32)
    x = torch.zeros(2, 5, 8)
    assert torch.allclose(module(x, offset=3)[1], sinusoidal_encoding(32, 8)[3:8])
    with pytest.raises(InvalidShape, match="max_length"):
        module(torch.zeros(1, 40, 8))
    with pytest.raises(InvalidArgument, match="offset"):
        module(x, offset=-1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"head_dim": 0}, "head_dim"),
        ({"head_dim": 33}, "rotary dims"),
        ({"head_dim": 32, "partial_rotary_factor": 1.5}, "partial_rotary_factor"),
        ({"head_dim": 32, "base": -1.0}, "base"),
        ({"head_dim": 32, "base": float("inf")}, "base"),
        ({"head_dim": 32, "scaling": "ntk-by-parts"}, "scaling"),
        ({"head_dim": 32, "scaling": "yarn", "factor": 2.0}, "original_max_position"),
        ({"head_dim": 32, "factor": 0}, "factor"),
        ({"head_dim": 2, "scaling": "ntk"}, "ntk"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(InvalidArgument, match=field):
        RopeConfig(**kwargs)


def test_bad_positions_and_shapes():
    rope = RotaryEmbedding(RopeConfig(8))
    with pytest.raises(InvalidArgument, match="position_ids"):
        rope(torch.zeros(1), torch.tensor([[0.5]]))
    with pytest.raises(InvalidArgument, match="position_ids"):
        rope(torch.zeros(1), torch.tensor([[-1]]))
    cos, sin = rope(torch.zeros(1), torch.arange(3))
    with pytest.raises(InvalidShape, match="cos/sin"):
        apply_rotary(torch.zeros(1, 1, 3, 4), cos, sin)
