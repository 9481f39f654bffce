"""Uniform symmetric integer quantisation: int8 and int4 with per-tensor, per-channel or
per-group absmax scales (the scheme of LLM.int8()'s vector-wise and GPTQ/AWQ's group-wise
storage, without their outlier handling)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import (
    Codec,
    Encoded,
    finite_or_corrupt,
    nibble_bytes,
    pack_nibbles,
    unpack_nibbles,
)
from qcompress.codecs.grouping import Grouping
from qcompress.container import Segments
from qcompress.tensors import TensorInfo

__all__ = ["Int4", "Int8"]


class _IntQuant(Codec):
    bits: ClassVar[int]
    settings: ClassVar[tuple[str, ...]] = ("granularity", "group_size")
    param_keys: ClassVar[frozenset[str]] = frozenset({"granularity", "group_size"})

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        granularity: str = "channel",
        group_size: int = 128,
        **_: Any,
    ) -> Encoded:
        grouping = Grouping.from_settings(info, granularity, group_size)
        blocks = grouping.split(x).astype(np.float64)
        scale = np.abs(blocks).max(axis=1) / self.qmax
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        codes = np.clip(np.rint(blocks / scale[:, None]), -self.qmax, self.qmax).astype(np.int8)
        return Encoded(
            grouping.params(), [("scales", scale, "none"), ("codes", self._pack(codes), "none")]
        )

    def _pack(self, codes: np.ndarray) -> np.ndarray:
        return codes.ravel() if self.bits == 8 else pack_nibbles(codes.ravel() + 8)

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        grouping = Grouping.from_params(params, info)
        scale = finite_or_corrupt(segs.array("scales", "<f4", grouping.rows), "scales")
        if self.bits == 8:
            codes = segs.array("codes", "i1", grouping.padded).astype(np.float32)
        else:
            packed = segs.array("codes", "u1", nibble_bytes(grouping.padded))
            codes = unpack_nibbles(packed, grouping.padded).astype(np.float32) - 8.0
        blocks = codes.reshape(grouping.rows, grouping.width) * scale[:, None]
        return grouping.join(blocks)


class Int8(_IntQuant):
    name: ClassVar[str] = "int8"
    bits: ClassVar[int] = 8


class Int4(_IntQuant):
    name: ClassVar[str] = "int4"
    bits: ClassVar[int] = 4
