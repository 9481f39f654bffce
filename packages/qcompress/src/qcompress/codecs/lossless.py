"""Lossless storage: the raw bytes, optionally through zstd or byte-shuffle + zstd."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import Codec, Encoded
from qcompress.container import Segments
from qcompress.tensors import DTYPES, TensorInfo

__all__ = ["Raw", "ShuffleZstd", "Zstd"]


class Raw(Codec):
    name: ClassVar[str] = "raw"
    lossless: ClassVar[bool] = True
    coding: ClassVar[str] = "none"

    def encode(self, x: np.ndarray, info: TensorInfo, **settings: Any) -> Encoded:
        return Encoded({}, [("data", x, self.coding)])

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        return segs.array("data", DTYPES[info.dtype], info.numel).copy()


class Zstd(Raw):
    name: ClassVar[str] = "zstd"
    coding: ClassVar[str] = "zstd"


class ShuffleZstd(Raw):
    name: ClassVar[str] = "shuffle-zstd"
    coding: ClassVar[str] = "shuffle-zstd"
