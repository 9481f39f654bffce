"""NF4, QLoRA's 4-bit NormalFloat (Dettmers et al. 2023): blockwise absmax scaling onto 16
levels placed at quantiles of N(0, 1), with optional double quantisation of the scales
(int8 codes of the block absmax values around their mean, one float32 scale per 256 blocks)."""

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
    setting_bool,
    setting_int,
    unpack_nibbles,
)
from qcompress.container import Segments
from qcompress.tensors import TensorInfo

__all__ = ["NF4", "NF4_LEVELS"]

#: the 16 NF4 levels as published with QLoRA (bitsandbytes' ``create_normal_map``)
NF4_LEVELS = np.array(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982608795166,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ],
    dtype=np.float32,
)
_MIDPOINTS = (NF4_LEVELS[1:] + NF4_LEVELS[:-1]) / 2
DQ_BLOCK = 256


class NF4(Codec):
    name: ClassVar[str] = "nf4"
    settings: ClassVar[tuple[str, ...]] = ("block_size", "double_quant")
    param_keys: ClassVar[frozenset[str]] = frozenset({"block_size", "double_quant", "absmax_mean"})

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        block_size: int = 64,
        double_quant: bool = False,
        **_: Any,
    ) -> Encoded:
        block = setting_int(block_size, "block_size", 2, 1 << 20)
        dq = setting_bool(double_quant, "double_quant")
        n = info.numel
        rows = -(-n // block) if n else 0
        flat = np.zeros(rows * block, dtype=np.float32)
        flat[:n] = x.ravel()
        blocks = flat.reshape(rows, block)
        absmax = np.abs(blocks).max(axis=1).astype(np.float32) if rows else np.zeros(0, np.float32)
        arrays: list[tuple[str, np.ndarray, str]] = []
        params: dict[str, Any] = {"block_size": block, "double_quant": dq}
        if dq:
            absmax, dq_arrays, mean = _double_quantise(absmax)
            arrays += dq_arrays
            params["absmax_mean"] = mean
        safe = np.where(absmax > 0, absmax, 1.0)
        normed = blocks / safe[:, None]
        codes = np.searchsorted(_MIDPOINTS, normed).astype(np.uint8)
        if not dq:
            arrays.append(("absmax", absmax, "none"))
        arrays.append(("codes", pack_nibbles(codes), "none"))
        return Encoded(params, arrays)

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        block = param_int(params, "block_size", 2, 1 << 20)
        dq = param_bool(params, "double_quant")
        n = info.numel
        rows = -(-n // block) if n else 0
        if dq:
            mean = param_float(params, "absmax_mean")
            groups = -(-rows // DQ_BLOCK)
            scale2 = finite_or_corrupt(segs.array("absmax_scale", "<f4", groups), "absmax scales")
            q = segs.array("absmax_codes", "i1", rows).astype(np.float32)
            with np.errstate(over="ignore", invalid="ignore"):
                absmax = np.maximum(q * np.repeat(scale2, DQ_BLOCK)[:rows] + mean, np.float32(0.0))
            finite_or_corrupt(absmax, "double-quantised absmax")
        else:
            absmax = finite_or_corrupt(segs.array("absmax", "<f4", rows), "absmax")
        codes = unpack_nibbles(segs.array("codes", "u1", nibble_bytes(rows * block)), rows * block)
        values = NF4_LEVELS[codes].reshape(rows, block) * absmax[:, None]
        return values.ravel()[:n]


def _double_quantise(
    absmax: np.ndarray,
) -> tuple[np.ndarray, list[tuple[str, np.ndarray, str]], float]:
    """Quantise the block scales themselves (QLoRA's double quantisation), return what decodes."""
    mean = float(absmax.mean()) if absmax.size else 0.0
    centred = absmax - mean
    groups = -(-absmax.size // DQ_BLOCK)
    padded = np.zeros(groups * DQ_BLOCK, dtype=np.float32)
    padded[: absmax.size] = centred
    g = padded.reshape(groups, DQ_BLOCK)
    scale2 = (np.abs(g).max(axis=1) / 127.0).astype(np.float32)
    scale2 = np.where(scale2 > 0, scale2, 1.0).astype(np.float32)
    q = np.clip(np.rint(g / scale2[:, None]), -127, 127).astype(np.int8).ravel()[: absmax.size]
    restored = (q.astype(np.float32) * np.repeat(scale2, DQ_BLOCK)[: absmax.size] + mean).astype(
        np.float32
    )
    # the blocks are normalised by the scale the decoder will see, so no code overflows it
    restored = np.maximum(restored, np.float32(0.0))
    arrays = [("absmax_scale", scale2, "none"), ("absmax_codes", q, "none")]
    return restored, arrays, mean
