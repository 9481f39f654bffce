"""Entropy-coded scalar quantisation: one uniform step for the whole tensor, each value rounded
to the nearest multiple, reconstructed at the mean of the values that fell in its cell
(the Lloyd-Max centroid condition), and the integer codes entropy-coded by zstd's Huffman stage.

At equal bits this beats fixed-length codes: a uniform quantiser followed by an ideal entropy
coder is within 0.25 bit/value of the rate-distortion bound at high rate (Gish & Pierce 1968),
and one step for the whole tensor gives every value the same error, which is what minimises the
total squared error at a given rate. The planner picks the step for a bit budget or error target.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import (
    Codec,
    Encoded,
    finite_or_corrupt,
    nibble_bytes,
    pack_nibbles,
    param_bool,
    param_float,
    param_int,
    param_str,
    setting_bool,
    setting_float,
    unpack_nibbles,
)
from qcompress.container import Segments
from qcompress.entropy import encode_bytes
from qcompress.errors import CorruptData, InvalidSettings
from qcompress.tensors import TensorInfo

__all__ = ["ECSQ", "MAX_LEVELS"]

MAX_LEVELS = 1 << 16


class ECSQ(Codec):
    name: ClassVar[str] = "ecsq"
    settings: ClassVar[tuple[str, ...]] = ("step", "centroids")
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {"step", "offset", "levels", "centroids", "layout", "base", "shift"}
    )

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        step: float | None = None,
        centroids: bool = True,
        **_: Any,
    ) -> Encoded:
        if step is None:
            raise InvalidSettings(
                "step: ecsq needs a quantisation step (e.g. step=0.01), or use method='auto' "
                "with bits=... or rel_l2=... to let the planner choose it"
            )
        delta = setting_float(step, "step", 0.0, 1e300, open_low=True)
        use_centroids = setting_bool(centroids, "centroids")
        flat = x.ravel()
        q = np.rint(flat / delta) if flat.size else np.zeros(0)
        lo = int(q.min()) if flat.size else 0
        hi = int(q.max()) if flat.size else 0
        levels = hi - lo + 1
        if levels > MAX_LEVELS:
            raise InvalidSettings(
                f"step: {delta:g} gives {levels} levels, more than {MAX_LEVELS}; use a larger step "
                "(or a lossless method)"
            )
        codes = (q - lo).astype(np.int64)
        layout, arrays = _smallest_layout(codes, levels)
        params: dict[str, Any] = {
            "step": delta,
            "offset": lo,
            "levels": levels,
            "centroids": use_centroids,
            **layout,
        }
        if use_centroids:
            counts = np.bincount(codes, minlength=levels)
            sums = np.bincount(codes, weights=flat.astype(np.float64), minlength=levels)
            grid = (np.arange(levels) + lo) * delta
            table = np.where(counts > 0, sums / np.maximum(counts, 1), grid).astype(np.float32)
            arrays.append(("table", table, "none"))
        return Encoded(params, arrays)

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        delta = param_float(params, "step", positive=True)
        lo = param_int(params, "offset", -(1 << 62), 1 << 62)
        levels = param_int(params, "levels", 1, MAX_LEVELS)
        use_centroids = param_bool(params, "centroids")
        codes = _decode_codes(segs, params, levels, info.numel)
        if use_centroids:
            table = finite_or_corrupt(segs.array("table", "<f4", levels), "centroid table")
        else:
            table = ((np.arange(levels) + lo) * delta).astype(np.float32)
            finite_or_corrupt(table, "level grid")
        return table[codes]


# Code layouts. Huffman (zstd's literal coder) spends at least one bit per byte and a little
# more on skewed bytes, so few-level codes are paired into one byte (a 4-bit window around the
# mode, 15 = escape, the escaped codes stored aside), byte codes are stored as they are, and
# codes above 256 levels keep their high byte for zstd and their low bits packed as they are
# (nearly uniform at such fine steps). The encoder writes every layout that applies and keeps
# the smallest.
LAYOUTS = ("byte", "nibble", "split")
ESCAPE = 15


def _smallest_layout(
    codes: np.ndarray, levels: int
) -> tuple[dict[str, Any], list[tuple[str, np.ndarray, str]]]:
    options = []
    if levels <= 256:
        options.append(({"layout": "byte"}, [("codes", codes.astype(np.uint8), "zstd-literal")]))
        options.append(_nibble_layout(codes, levels))
    else:
        options.append(_split_layout(codes, levels))
    if len(options) == 1:
        return options[0]
    sizes = [
        sum(len(encode_bytes(a.tobytes(), c, 1)) for _, a, c in arrays) for _, arrays in options
    ]
    return options[int(np.argmin(sizes))]


def _nibble_layout(
    codes: np.ndarray, levels: int
) -> tuple[dict[str, Any], list[tuple[str, np.ndarray, str]]]:
    counts = np.bincount(codes, minlength=levels)
    window = (
        np.convolve(counts, np.ones(ESCAPE, dtype=np.int64), mode="valid")
        if levels > ESCAPE
        else counts[:1]
    )
    base = int(np.argmax(window)) if levels > ESCAPE else 0
    local = codes - base
    escaped = (local < 0) | (local >= ESCAPE)
    nibbles = np.where(escaped, ESCAPE, local).astype(np.uint8)
    packed = pack_nibbles(nibbles)
    rest = codes[escaped].astype(np.uint8)
    return {"layout": "nibble", "base": base}, [
        ("codes", packed, "zstd-literal"),
        ("escapes", rest, "zstd-literal"),
    ]


def _split_layout(
    codes: np.ndarray, levels: int
) -> tuple[dict[str, Any], list[tuple[str, np.ndarray, str]]]:
    shift = max(0, int(np.ceil(np.log2(levels))) - 8)
    high = (codes >> shift).astype(np.uint8)
    low = (codes & ((1 << shift) - 1)).astype(np.uint16)
    bits = np.unpackbits(low.astype(">u2").view(np.uint8)).reshape(-1, 16)[:, 16 - shift :]
    return {"layout": "split", "shift": shift}, [
        ("codes", high, "zstd-literal"),
        ("low", np.packbits(bits), "none"),
    ]


def _decode_codes(segs: Segments, params: dict[str, Any], levels: int, n: int) -> np.ndarray:
    layout = param_str(params, "layout", LAYOUTS)
    if layout == "byte":
        if levels > 256:
            raise CorruptData("header: byte layout with more than 256 levels")
        codes = segs.array("codes", "u1", n).astype(np.int64)
    elif layout == "nibble":
        if levels > 256:
            raise CorruptData("header: nibble layout with more than 256 levels")
        base = param_int(params, "base", 0, levels - 1)
        nibbles = unpack_nibbles(segs.array("codes", "u1", nibble_bytes(n)), n)
        escaped = nibbles == ESCAPE
        codes = nibbles.astype(np.int64) + base
        codes[escaped] = segs.array("escapes", "u1", int(escaped.sum()))
    else:
        shift = param_int(params, "shift", 0, 8)
        if levels > 256 << shift:
            raise CorruptData("header: split layout too narrow for its levels")
        high = segs.array("codes", "u1", n).astype(np.int64)
        bits = np.unpackbits(segs.array("low", "u1", (n * shift + 7) // 8), count=n * shift)
        low = np.zeros(n, dtype=np.int64)
        for column in range(shift):  # at most 8 passes over the codes
            low = (low << 1) | bits[column::shift]
        codes = (high << shift) | low
    if codes.size and int(codes.max()) >= levels:
        raise CorruptData(f"payload: a code exceeds the {levels} levels the header declares")
    return codes
