"""How a tensor is cut into groups that share one scale: whole tensor, per channel, per group."""

from __future__ import annotations

from typing import Any

import numpy as np

from qcompress.codecs.base import param_int, param_str, setting_choice, setting_int
from qcompress.errors import CorruptData
from qcompress.tensors import TensorInfo

__all__ = ["GRANULARITIES", "Grouping"]

GRANULARITIES = ("tensor", "channel", "group")
MAX_GROUP = 1 << 30


class Grouping:
    """``rows`` groups of ``width`` values each; the flat tensor is padded with zeros to fill."""

    def __init__(
        self, granularity: str, numel: int, shape: tuple[int, ...], group_size: int
    ) -> None:
        self.granularity = granularity
        self.numel = numel
        self.group_size = group_size
        if granularity == "tensor" or numel == 0:
            self.rows, self.width = 1, max(numel, 1)
        elif granularity == "channel":
            rows = shape[0] if len(shape) >= 2 and shape[0] > 0 else 1
            self.rows, self.width = rows, max(numel // rows, 1)
        else:
            self.rows, self.width = -(-numel // group_size), group_size
        self.padded = self.rows * self.width

    @classmethod
    def from_settings(cls, info: TensorInfo, granularity: Any, group_size: Any) -> Grouping:
        granularity = setting_choice(granularity, "granularity", GRANULARITIES)
        size = setting_int(group_size, "group_size", 1, MAX_GROUP)
        return cls(granularity, info.numel, info.shape, size)

    @classmethod
    def from_params(cls, params: dict[str, Any], info: TensorInfo) -> Grouping:
        granularity = param_str(params, "granularity", GRANULARITIES)
        size = param_int(params, "group_size", 1, MAX_GROUP)
        grouping = cls(granularity, info.numel, info.shape, size)
        if grouping.padded > info.numel + grouping.width:  # padding never exceeds one group
            raise CorruptData("header: group layout does not fit the tensor shape")
        return grouping

    def params(self) -> dict[str, Any]:
        return {"granularity": self.granularity, "group_size": self.group_size}

    def split(self, x: np.ndarray) -> np.ndarray:
        flat = x.ravel()
        if self.padded != flat.size:
            flat = np.concatenate([flat, np.zeros(self.padded - flat.size, dtype=flat.dtype)])
        return flat.reshape(self.rows, self.width)

    def join(self, blocks: np.ndarray) -> np.ndarray:
        return blocks.ravel()[: self.numel]
