"""Sparsification: keep the k largest magnitudes (top-k) or those above a threshold.

Indices are stored as gaps between sorted positions (small numbers that zstd packs well),
values as float32 or float16. With :class:`qcompress.ErrorFeedback` what is dropped is carried
into the next step instead of being lost.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import (
    Codec,
    Encoded,
    finite_or_corrupt,
    param_int,
    param_str,
    setting_choice,
    setting_float,
    setting_int,
)
from qcompress.container import Segments
from qcompress.errors import CorruptData, InvalidSettings
from qcompress.tensors import TensorInfo

__all__ = ["Threshold", "TopK", "sparse_encode"]

VALUE_DTYPES = {"float32": "<f4", "float16": "<f2"}


def sparse_encode(flat: np.ndarray, keep: np.ndarray, value_dtype: str) -> Encoded:
    """Store the values of ``flat`` at the sorted positions ``keep``."""
    keep = np.sort(keep).astype(np.int64)
    gaps = np.diff(keep, prepend=0).astype(np.uint32) if keep.size else np.zeros(0, np.uint32)
    values = flat[keep].astype(VALUE_DTYPES[value_dtype])
    params = {"count": int(keep.size), "values": value_dtype}
    return Encoded(params, [("gaps", gaps, "shuffle-zstd"), ("values", values, "none")])


class TopK(Codec):
    name: ClassVar[str] = "topk"
    settings: ClassVar[tuple[str, ...]] = ("k", "density", "values")
    param_keys: ClassVar[frozenset[str]] = frozenset({"count", "values"})

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        k: int | None = None,
        density: float | None = None,
        values: str = "float32",
        **_: Any,
    ) -> Encoded:
        setting_choice(values, "values", tuple(VALUE_DTYPES))
        n = info.numel
        if (k is None) == (density is None):
            raise InvalidSettings(
                "k: give exactly one of k=<count> or density=<fraction in (0, 1]>"
            )
        if k is None:
            k = max(1, round(setting_float(density, "density", 0.0, 1.0, open_low=True) * n))
        count = setting_int(k, "k", 0, max(n, 0))
        flat = x.ravel()
        keep = (
            np.argpartition(np.abs(flat), n - count)[n - count :]
            if 0 < count < n
            else np.arange(count)
        )
        return sparse_encode(flat, keep, values)

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        return _sparse_decode(segs, params, info)


class Threshold(TopK):
    name: ClassVar[str] = "threshold"
    settings: ClassVar[tuple[str, ...]] = ("threshold", "values")

    def encode(  # type: ignore[override]
        self,
        x: np.ndarray,
        info: TensorInfo,
        threshold: float | None = None,
        values: str = "float32",
        **_: Any,
    ) -> Encoded:
        if threshold is None:
            raise InvalidSettings("threshold: give the magnitude below which values are dropped")
        cut = setting_float(threshold, "threshold", 0.0, 1e300)
        setting_choice(values, "values", tuple(VALUE_DTYPES))
        flat = x.ravel()
        return sparse_encode(flat, np.flatnonzero(np.abs(flat) >= cut), values)


def _sparse_decode(segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
    n = info.numel
    count = param_int(params, "count", 0, n)
    value_dtype = param_str(params, "values", tuple(VALUE_DTYPES))
    gaps = segs.array("gaps", "<u4", count).astype(np.int64)
    positions = np.cumsum(gaps)
    # strictly increasing after the first, and inside the tensor: no index is written twice
    if count and (positions[-1] >= n or (count > 1 and np.any(gaps[1:] == 0))):
        raise CorruptData("payload: sparse indices are out of range or repeated")
    values = finite_or_corrupt(
        segs.array("values", VALUE_DTYPES[value_dtype], count), "sparse values"
    )
    out = np.zeros(n, dtype=np.float32)
    out[positions] = values
    return out
