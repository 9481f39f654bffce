"""The planner: for one tensor and a bit budget (bits per value, the whole container counted)
or a relative-L2 error target, try the methods that can meet it, and keep the best.

With a budget, "best" is the lowest relative L2 error within the budget; with a target, the
fewest bits that meet it. Entropy-coded scalar quantisation (``ecsq``) is searched over its
step: first on the empirical entropy of the codes (cheap: rounding and a histogram), then
corrected against the real container size, so the budget holds for the bytes actually written.
Every candidate is a real container whose error is measured on its real decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qcompress.api import _compress_array
from qcompress.codecs.ecsq import MAX_LEVELS
from qcompress.container import unpack
from qcompress.errors import InvalidSettings, QcompressError
from qcompress.tensors import FLOAT_DTYPES, TensorInfo, as_float, to_numpy

__all__ = ["Candidate", "Plan", "plan"]

# fixed-length candidates: (method, settings)
FIXED: tuple[tuple[str, dict[str, Any]], ...] = (
    ("binary", {"granularity": "channel"}),
    ("int4", {"granularity": "group", "group_size": 128}),
    ("int4", {"granularity": "group", "group_size": 64}),
    ("nf4", {"block_size": 64, "double_quant": True}),
    ("nf4", {"block_size": 64}),
    ("int8", {"granularity": "channel"}),
    ("int8", {"granularity": "group", "group_size": 64}),
    ("bf16", {}),
    ("fp16", {}),
    ("shuffle-zstd", {}),
    ("raw", {}),
)


@dataclass(frozen=True)
class Candidate:
    method: str
    settings: dict[str, Any]
    bits_per_value: float
    rel_l2: float
    max_abs: float


@dataclass
class Plan:
    """The chosen container and what it achieved, with every candidate tried beside it."""

    method: str
    settings: dict[str, Any]
    bits_per_value: float
    rel_l2: float
    max_abs: float
    data: bytes
    candidates: list[Candidate] = field(default_factory=list)


def _measure(data: bytes, numel: int) -> tuple[float, float, float]:
    header = unpack(data, max_output_bytes=1 << 62).header
    error = header["error"] or {"rel_l2": 0.0, "max_abs": 0.0}
    return 8 * len(data) / max(numel, 1), float(error["rel_l2"]), float(error["max_abs"])


def _entropy_bits(sample: np.ndarray, step: float) -> float:
    q = np.rint(sample / step).astype(np.int64)
    counts = np.bincount(q - q.min())
    p = counts[counts > 0] / q.size
    return float(-(p * np.log2(p)).sum())


def _cell_error(flat: np.ndarray, step: float) -> float:
    """Squared error of ecsq at ``step`` with centroid reconstruction (what the codec stores)."""
    q = np.rint(flat / step).astype(np.int64)
    codes = q - q.min()
    counts = np.bincount(codes)
    sums = np.bincount(codes, weights=flat)
    squares = np.bincount(codes, weights=flat * flat)
    nz = counts > 0
    return float((squares[nz] - sums[nz] ** 2 / counts[nz]).sum())


def _step_bounds(flat: np.ndarray) -> tuple[float, float]:
    span = float(flat.max() - flat.min()) if flat.size else 0.0
    peak = float(np.abs(flat).max()) if flat.size else 0.0
    finest = max(span / (MAX_LEVELS - 2), np.finfo(np.float32).tiny)
    return finest, max(4 * peak, finest * 2)


def _ecsq_budget(x: np.ndarray, info: TensorInfo, budget: float, level: int) -> bytes | None:
    flat = x.ravel().astype(np.float64)
    if not flat.size or float(np.abs(flat).max()) == 0.0:
        return None
    rng = np.random.default_rng(0)
    sample = flat if flat.size <= 1 << 19 else rng.choice(flat, 1 << 19, replace=False)
    lo, hi = (math.log(v) for v in _step_bounds(flat))
    target = budget - 0.02
    best: bytes | None = None
    for _ in range(6):
        a, b = lo, hi  # entropy falls as the step grows: bisect log(step)
        for _ in range(40):
            mid = (a + b) / 2
            if _entropy_bits(sample, math.exp(mid)) > target:
                a = mid
            else:
                b = mid
        try:
            data = _compress_array(x, info, "ecsq", entropy=None, level=level, step=math.exp(b))
        except InvalidSettings:  # too many levels: the budget asks for more than ecsq holds
            return best
        bits = 8 * len(data) / flat.size
        if bits <= budget:
            if best is None or len(data) > len(best):
                best = data
            if budget - bits < 0.01:
                break
            target += (budget - bits) * 0.9
        else:
            target -= bits - budget + 0.002
    return best


def _ecsq_target(x: np.ndarray, info: TensorInfo, rel_l2: float, level: int) -> bytes | None:
    flat = x.ravel().astype(np.float64)
    norm2 = float(np.dot(flat, flat))
    if norm2 == 0.0:
        return None
    allowed = (rel_l2**2) * norm2
    lo, hi = (math.log(v) for v in _step_bounds(flat))
    if _cell_error(flat, math.exp(lo)) > allowed:
        return None
    a, b = lo, hi  # error grows with the step: the largest step that meets the target
    for _ in range(40):
        mid = (a + b) / 2
        if _cell_error(flat, math.exp(mid)) <= allowed:
            a = mid
        else:
            b = mid
    for shrink in (1.0, 0.99, 0.97, 0.9):
        try:
            data = _compress_array(
                x, info, "ecsq", entropy=None, level=level, step=math.exp(a) * shrink
            )
        except InvalidSettings:
            return None
        if _measure(data, flat.size)[1] <= rel_l2:
            return data
    return None


def plan(
    tensor: Any,
    *,
    bits: float | None = None,
    rel_l2: float | None = None,
    methods: tuple[str, ...] | None = None,
    level: int = 3,
) -> Plan:
    """Pick method and settings for ``bits`` (budget per value) or ``rel_l2`` (error target).

    ``methods`` limits the candidates to those method names (default: all; "ecsq" is the
    searched one). Raises InvalidSettings when nothing meets the request, naming what would.
    """
    if (bits is None) == (rel_l2 is None):
        raise InvalidSettings(
            "bits: give exactly one of bits=<budget per value> or rel_l2=<target>"
        )
    if bits is not None and (
        not isinstance(bits, (int, float))
        or isinstance(bits, bool)
        or not 0 < bits <= 64
        or math.isnan(bits)
    ):
        raise InvalidSettings(f"bits: must be a number in (0, 64], got {bits!r}")
    if rel_l2 is not None and (
        not isinstance(rel_l2, (int, float)) or isinstance(rel_l2, bool) or not 0 <= rel_l2 < 1
    ):
        raise InvalidSettings(f"rel_l2: must be a number in [0, 1), got {rel_l2!r}")
    array, info = to_numpy(tensor)
    if info.dtype not in FLOAT_DTYPES:
        raise InvalidSettings(
            f"tensor: the planner works on float tensors, got {info.dtype}; use method='zstd'"
        )
    values = as_float(array, info)
    allowed = set(methods) if methods is not None else None
    candidates: list[tuple[Candidate, bytes]] = []

    def consider(method: str, settings: dict[str, Any], data: bytes | None) -> None:
        if data is None:
            return
        b, e, m = _measure(data, info.numel)
        candidates.append((Candidate(method, settings, b, e, m), data))

    for method, settings in FIXED:
        if allowed is not None and method not in allowed:
            continue
        source = array if method in ("raw", "shuffle-zstd") else values
        try:
            consider(
                method,
                settings,
                _compress_array(source, info, method, entropy=None, level=level, **settings),
            )
        except QcompressError:  # e.g. fp16 overflow: that candidate simply does not apply
            continue
    if allowed is None or "ecsq" in allowed:
        data = (
            _ecsq_budget(values, info, bits, level)
            if bits is not None
            else _ecsq_target(values, info, rel_l2, level)
        )
        if data is not None:
            consider("ecsq", {"step": unpack(data, max_output_bytes=1 << 62).params["step"]}, data)
    if bits is not None:
        feasible = [c for c in candidates if c[0].bits_per_value <= bits]
        key = lambda c: (c[0].rel_l2, c[0].bits_per_value)  # noqa: E731
    else:
        feasible = [c for c in candidates if c[0].rel_l2 <= rel_l2]
        key = lambda c: (c[0].bits_per_value, c[0].rel_l2)  # noqa: E731
    if not feasible:
        floor = min(candidates, key=lambda c: c[0].bits_per_value)[0] if candidates else None
        hint = (
            f" (the smallest candidate, {floor.method}, needs "
            f"{floor.bits_per_value:.3f} bits/value)"
            if floor
            else ""
        )
        what = (
            f"bits: no method fits {bits} bits/value{hint}"
            if bits is not None
            else (
                f"rel_l2: no candidate method reaches {rel_l2}; "
                "allow the lossless ones (raw, shuffle-zstd)"
            )
        )
        raise InvalidSettings(what)
    chosen, data = min(feasible, key=key)
    return Plan(
        chosen.method,
        chosen.settings,
        chosen.bits_per_value,
        chosen.rel_l2,
        chosen.max_abs,
        data,
        [c for c, _ in candidates],
    )
