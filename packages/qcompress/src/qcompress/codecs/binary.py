"""Binary quantisation: one sign bit per value and one scale per group, the mean absolute value,
which is the L2-optimal scale for sign codes (XNOR-Net, Rastegari et al. 2016)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import Codec, Encoded, finite_or_corrupt
from qcompress.codecs.grouping import Grouping
from qcompress.container import Segments
from qcompress.tensors import TensorInfo

__all__ = ["Binary"]


class Binary(Codec):
    name: ClassVar[str] = "binary"
    settings: ClassVar[tuple[str, ...]] = ("granularity", "group_size")
    param_keys: ClassVar[frozenset[str]] = frozenset({"granularity", "group_size"})

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        granularity: str = "channel",
        group_size: int = 128,
        **_: Any,
    ) -> Encoded:
        grouping = Grouping.from_settings(info, granularity, group_size)
        blocks = grouping.split(x)
        # padding zeros would pull the mean down: average over the real values only
        counts = np.full(grouping.rows, grouping.width, dtype=np.float64)
        counts[-1] -= grouping.padded - grouping.numel
        scale = (np.abs(blocks).sum(axis=1, dtype=np.float64) / np.maximum(counts, 1)).astype(
            np.float32
        )
        signs = np.packbits(grouping.join(blocks) >= 0)
        return Encoded(grouping.params(), [("scales", scale, "none"), ("signs", signs, "none")])

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        grouping = Grouping.from_params(params, info)
        scale = finite_or_corrupt(segs.array("scales", "<f4", grouping.rows), "scales")
        n = grouping.numel
        bits = np.unpackbits(segs.array("signs", "u1", (n + 7) // 8), count=n)
        signs = np.zeros(grouping.padded, dtype=np.float32)
        signs[:n] = bits.astype(np.float32) * 2.0 - 1.0
        return grouping.join(signs.reshape(grouping.rows, grouping.width) * scale[:, None])
