"""Rotary position embeddings (RoPE) with linear, NTK-aware, dynamic-NTK and YaRN scaling.

A rotary embedding turns each pair of feature dims into a complex number and multiplies it by
the phase e^{i m theta_j} of its position m (Su et al. 2021), so that q_m . k_n depends only on
m - n. The conventions are those of Hugging Face transformers' Llama: inverse frequencies
``theta_j = base^(-2j/d)`` for ``j < d/2``, cos/sin tables of width ``d`` made by repeating the
``d/2`` angles (``cat(freqs, freqs)``), pairs formed by the two halves (``rotate_half``), and
a partial rotary factor that rotates only the first ``d_rot`` dims and passes the rest (as
Bamba/NeoX-style models do). Scalings:

- ``linear`` (position interpolation, Chen et al. 2023): every frequency divided by ``factor``.
- ``ntk`` (NTK-aware, bloc97 2023): ``base * factor^(d/(d-2))``: the highest frequency is
  kept, the lowest is divided by exactly ``factor``.
- ``dynamic`` (dynamic NTK, as HF's ``"dynamic"``): the NTK base grows with the current
  sequence length beyond ``original_max_position``.
- ``yarn`` (Peng et al. 2023): per-frequency blend of interpolation and extrapolation by a
  linear ramp between the ``beta_fast``/``beta_slow`` rotation counts, and cos/sin scaled by
  the attention factor ``0.1 ln(factor) + 1``.

Tests compare every one of these with ``transformers.modeling_rope_utils`` and Llama's
``apply_rotary_pos_emb``; this module itself never imports transformers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from qattention.errors import InvalidArgument, InvalidShape

SCALINGS = ("none", "linear", "ntk", "dynamic", "yarn")


def _positive(value: object, name: str, *, integer: bool = False) -> None:
    kinds = int if integer else int | float
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not math.isfinite(value)
        or value <= 0
    ):
        kind = "integer" if integer else "number"
        raise InvalidArgument(f"{name} must be a positive finite {kind}, got {value!r}")


@dataclass(frozen=True)
class RopeConfig:
    """What a rotary embedding needs; checked at construction.

    ``head_dim``: per-head width; ``partial_rotary_factor``: fraction of it that rotates
    (the rotated width must be even); ``factor`` and ``original_max_position`` (the context
    length the model was trained on) are used by the scalings that need them.
    """

    head_dim: int
    base: float = 10000.0
    partial_rotary_factor: float = 1.0
    scaling: str = "none"
    factor: float = 1.0
    original_max_position: int | None = None
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    attention_factor: float | None = None
    truncate: bool = True

    def __post_init__(self) -> None:
        _positive(self.head_dim, "head_dim", integer=True)
        _positive(self.base, "base")
        _positive(self.factor, "factor")
        _positive(self.beta_fast, "beta_fast")
        _positive(self.beta_slow, "beta_slow")
        if self.attention_factor is not None:
            _positive(self.attention_factor, "attention_factor")
        _positive(self.partial_rotary_factor, "partial_rotary_factor")
        if self.partial_rotary_factor > 1:
            raise InvalidArgument(
                f"partial_rotary_factor must be in (0, 1], got {self.partial_rotary_factor!r}"
            )
        if self.scaling not in SCALINGS:
            raise InvalidArgument(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        rot = self.rotary_dim
        if rot < 2 or rot % 2:
            raise InvalidArgument(
                f"head_dim * partial_rotary_factor = {rot} rotary dims; it must be even and >= 2"
            )
        if self.scaling == "ntk" and rot <= 2:
            raise InvalidArgument("scaling='ntk' needs at least 4 rotary dims (d/(d-2) exponent)")
        if self.scaling in ("dynamic", "yarn"):
            if self.original_max_position is None:
                raise InvalidArgument(
                    f"scaling={self.scaling!r} needs original_max_position (the trained context "
                    "length, e.g. 2048)"
                )
            _positive(self.original_max_position, "original_max_position", integer=True)
        if self.scaling == "dynamic" and rot <= 2:
            raise InvalidArgument("scaling='dynamic' needs at least 4 rotary dims")

    @property
    def rotary_dim(self) -> int:
        return int(self.head_dim * self.partial_rotary_factor)


def _base_inv_freq(base: float, dim: int, device: torch.device | str | None) -> torch.Tensor:
    # float32 and int64 arange as transformers does, so that the tables agree bit for bit
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float)
    return 1.0 / (base ** (exponents / dim))


def _yarn(config: RopeConfig, device: torch.device | str | None) -> tuple[torch.Tensor, float]:
    dim, base, factor = config.rotary_dim, config.base, config.factor
    original = config.original_max_position

    def correction_dim(rotations: float) -> float:
        # the dim index whose wavelength fits `rotations` times into the original context
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(config.beta_fast), correction_dim(config.beta_slow)
    if config.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # the ramp needs a non-zero width
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolate = (1 - ramp).to(device=device, dtype=torch.float)
    pos_freqs = base ** (torch.arange(0, dim, 2).to(device=device, dtype=torch.float) / dim)
    inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrapolate) + (1.0 / pos_freqs) * extrapolate
    if config.attention_factor is not None:
        attention = float(config.attention_factor)
    else:
        attention = 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0
    return inv_freq, attention


def rope_frequencies(
    config: RopeConfig, seq_len: int | None = None, device: torch.device | str | None = None
) -> tuple[torch.Tensor, float]:
    """Inverse frequencies ``(rotary_dim // 2,)`` and the factor cos/sin are multiplied by.

    ``seq_len`` matters only for ``dynamic`` scaling (the longest position seen + 1).
    """
    if not isinstance(config, RopeConfig):
        raise InvalidArgument(f"config must be a RopeConfig, got {type(config).__name__}")
    dim = config.rotary_dim
    if config.scaling == "none":
        return _base_inv_freq(config.base, dim, device), 1.0
    if config.scaling == "linear":
        return _base_inv_freq(config.base, dim, device) / config.factor, 1.0
    if config.scaling == "ntk":
        base = config.base * config.factor ** (dim / (dim - 2))
        return _base_inv_freq(base, dim, device), 1.0
    if config.scaling == "dynamic":
        original = config.original_max_position
        length = original if seq_len is None else max(int(seq_len), original)
        grow = (config.factor * length / original) - (config.factor - 1)
        return _base_inv_freq(config.base * grow ** (dim / (dim - 2)), dim, device), 1.0
    return _yarn(config, device)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for positions, as HF's ``LlamaRotaryEmbedding``: ``(B, L, rotary_dim)``.

    ``forward(x, position_ids)`` uses ``x`` only for its dtype and device; ``position_ids``
    is ``(B, L)`` (or ``(L,)``) integers. Pass the results to :func:`apply_rotary`.
    """

    inv_freq: torch.Tensor

    def __init__(self, config: RopeConfig, device: torch.device | str | None = None) -> None:
        super().__init__()
        if not isinstance(config, RopeConfig):
            raise InvalidArgument(f"config must be a RopeConfig, got {type(config).__name__}")
        self.config = config
        inv_freq, self.attention_scaling = rope_frequencies(config, device=device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not isinstance(position_ids, torch.Tensor) or position_ids.is_floating_point():
            raise InvalidArgument("position_ids must be an integer tensor (B, L) or (L,)")
        if position_ids.numel() and int(position_ids.min()) < 0:
            raise InvalidArgument("position_ids must be >= 0")
        if position_ids.dim() == 1:
            position_ids = position_ids.unsqueeze(0)
        inv_freq, scaling = self.inv_freq, self.attention_scaling
        if self.config.scaling == "dynamic" and position_ids.numel():
            inv_freq, scaling = rope_frequencies(
                self.config, seq_len=int(position_ids.max()) + 1, device=x.device
            )
        freqs = position_ids[..., None].float() * inv_freq.to(device=x.device, dtype=torch.float)
        angles = torch.cat((freqs, freqs), dim=-1)
        return (angles.cos() * scaling).to(x.dtype), (angles.sin() * scaling).to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` over the two halves of the last dim (Llama's pairing)."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, unsqueeze_dim: int = 1
) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` dims of ``x``; the remaining dims pass unchanged.

    ``x`` is ``(B, heads, L, D)`` with the default ``unsqueeze_dim=1`` (``(B, L, heads, D)``:
    use 2), as in transformers' ``apply_rotary_pos_emb``.
    """
    if not isinstance(x, torch.Tensor) or cos.shape != sin.shape:
        raise InvalidShape("x must be a tensor and cos, sin must have one shape")
    rot = cos.shape[-1]
    if rot > x.shape[-1] or rot % 2:
        raise InvalidShape(
            f"cos/sin width {rot} must be even and at most x's last dim {x.shape[-1]}"
        )
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    rotated = x_rot * cos + rotate_half(x_rot) * sin
    return torch.cat((rotated, x_pass), dim=-1) if x_pass.shape[-1] else rotated


def apply_rotary_pos_emb(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, unsqueeze_dim: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`apply_rotary` to queries and keys (transformers' signature)."""
    return apply_rotary(q, cos, sin, unsqueeze_dim), apply_rotary(k, cos, sin, unsqueeze_dim)


def sinusoidal_encoding(
    length: int,
    dim: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Absolute sinusoidal encodings (Vaswani et al. 2017), ``(length, dim)``.

    ``PE[p, 2i] = sin(p / base^(2i/dim))``, ``PE[p, 2i+1] = cos(p / base^(2i/dim))``; an odd
    ``dim`` drops the last cosine column.
    """
    _positive(length, "length", integer=True)
    _positive(dim, "dim", integer=True)
    _positive(base, "base")
    pos = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(1)
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
    table = torch.zeros(length, dim + dim % 2, dtype=torch.float64, device=device)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv)
    return table[:, :dim].to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds :func:`sinusoidal_encoding` to ``(B, L, dim)`` inputs (positions from ``offset``)."""

    table: torch.Tensor

    def __init__(self, dim: int, max_length: int = 4096, base: float = 10000.0) -> None:
        super().__init__()
        self.register_buffer("table", sinusoidal_encoding(max_length, dim, base=base), False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != self.table.shape[1]:
            raise InvalidShape(f"x must be (..., L, {self.table.shape[1]})")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgument(f"offset must be an integer >= 0, got {offset!r}")
        stop = offset + x.shape[-2]
        if stop > self.table.shape[0]:
            raise InvalidShape(
                f"positions up to {stop} exceed max_length {self.table.shape[0]}; build the "
                "module with a larger max_length"
            )
        return x + self.table[offset:stop].to(device=x.device, dtype=x.dtype)
