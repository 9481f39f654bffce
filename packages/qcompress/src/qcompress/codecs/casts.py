"""Casts to 16-bit floats: fp16 (IEEE half) and bf16 (bfloat16, round to nearest even)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import Codec, Encoded
from qcompress.container import Segments
from qcompress.errors import InvalidSettings
from qcompress.tensors import TensorInfo, bf16_bits, bf16_values

__all__ = ["BF16", "FP16"]

FP16_MAX = 65504.0


class FP16(Codec):
    name: ClassVar[str] = "fp16"

    def encode(self, x: np.ndarray, info: TensorInfo, **settings: Any) -> Encoded:
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak > FP16_MAX:
            # a cast would turn these into infinity: refuse rather than alter values silently
            raise InvalidSettings(
                f"method: fp16 holds magnitudes up to {FP16_MAX:g}, the tensor reaches {peak:g}; "
                "use method='bf16' (same size, float32's range)"
            )
        return Encoded({}, [("half", x.astype(np.float16), "none")])

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        return segs.array("half", "<f2", info.numel).astype(np.float32)


class BF16(Codec):
    name: ClassVar[str] = "bf16"

    def encode(self, x: np.ndarray, info: TensorInfo, **settings: Any) -> Encoded:
        bits = bf16_bits(x)
        if not np.all(np.isfinite(bf16_values(bits))):
            raise InvalidSettings(
                "method: some values round to infinity in bf16 (beyond ~3.39e38); store them "
                "with method='raw'"
            )
        return Encoded({}, [("bits", bits, "none")])

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        return bf16_values(segs.array("bits", "<u2", info.numel))
