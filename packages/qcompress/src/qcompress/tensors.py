"""Between user tensors (numpy arrays, torch tensors) and the float arrays the codecs work on.

numpy has no bfloat16, so a torch bfloat16 tensor travels as its raw 16-bit pattern (lossless
methods) or as float32 (lossy methods) and is cast back on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qcompress.errors import UnsupportedTensor

__all__ = ["DTYPES", "FLOAT_DTYPES", "TensorInfo", "from_numpy", "numpy_dtype", "to_numpy"]

#: every dtype a container may hold, by the name written into the header
DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"),  # raw bit pattern; see module docstring
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int8": np.dtype("i1"),
    "uint8": np.dtype("u1"),
    "int16": np.dtype("<i2"),
    "uint16": np.dtype("<u2"),
    "int32": np.dtype("<i4"),
    "uint32": np.dtype("<u4"),
    "int64": np.dtype("<i8"),
    "uint64": np.dtype("<u8"),
    "bool": np.dtype("?"),
}
FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
KINDS = frozenset({"numpy", "torch"})


@dataclass(frozen=True)
class TensorInfo:
    """What the header records about the original tensor, to restore it exactly."""

    kind: str  # "numpy" or "torch"
    dtype: str  # a key of DTYPES
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


def numpy_dtype(name: str) -> np.dtype:
    return DTYPES[name]


def to_numpy(tensor: Any) -> tuple[np.ndarray, TensorInfo]:
    """``tensor`` as a C-contiguous little-endian numpy array plus what restores it.

    A bfloat16 torch tensor comes back as its uint16 bit pattern.
    """
    if isinstance(tensor, np.ndarray):
        kind = "numpy"
        array = tensor
    elif type(tensor).__module__.startswith("torch") and hasattr(tensor, "detach"):
        import torch

        kind = "torch"
        t = tensor.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            array = t.view(torch.int16).numpy().view(np.uint16)
            return array.copy(order="C"), TensorInfo(kind, "bfloat16", tuple(t.shape))
        try:
            array = t.numpy()
        except TypeError as exc:
            raise UnsupportedTensor(
                f"tensor: torch dtype {t.dtype} is not supported; convert it to one of "
                f"{sorted(DTYPES)} first"
            ) from exc
    else:
        raise UnsupportedTensor(
            f"tensor: expected a numpy.ndarray or torch.Tensor, got {type(tensor).__name__}"
        )
    name = _dtype_name(array.dtype)
    # np.ascontiguousarray would turn a 0-d array into 1-d; astype keeps the shape
    array = array.astype(DTYPES[name], order="C", copy=False)
    return array, TensorInfo(kind, name, tuple(int(s) for s in array.shape))


def _dtype_name(dtype: np.dtype) -> str:
    for name, candidate in DTYPES.items():
        if name == "bfloat16":
            continue
        if dtype.kind == candidate.kind and dtype.itemsize == candidate.itemsize:
            return name
    raise UnsupportedTensor(
        f"tensor: dtype {dtype} is not supported; use one of {sorted(DTYPES)} "
        "(complex and object arrays are not stored)"
    )


def as_float(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The values of ``array`` as float32 (float64 stays float64) for a lossy codec."""
    if info.dtype not in FLOAT_DTYPES:
        raise UnsupportedTensor(
            f"tensor: a lossy method needs a floating dtype, got {info.dtype}; use "
            "method='raw', 'zstd' or 'shuffle-zstd' for integer and bool tensors"
        )
    if info.dtype == "bfloat16":
        values = (array.astype(np.uint32) << 16).view(np.float32)
    elif info.dtype == "float64":
        values = array
    else:
        values = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(values)):
        raise UnsupportedTensor(
            "tensor: contains NaN or infinity; a lossy method cannot bound its error on those, "
            "so use a lossless method ('raw', 'zstd', 'shuffle-zstd') or clean the values"
        )
    return values


def from_float(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float values decoded by a lossy codec, cast to the stored dtype (bfloat16 as bits)."""
    if info.dtype == "bfloat16":
        return bf16_bits(values)
    return values.astype(DTYPES[info.dtype], copy=False)


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float values rounded to bfloat16 (round to nearest even), as uint16 bit patterns."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def bf16_values(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def from_numpy(array: np.ndarray, info: TensorInfo) -> Any:
    """The decoded array as the kind of tensor that went in."""
    array = array.reshape(info.shape)
    if info.kind == "numpy":
        return array
    import torch

    if info.dtype == "bfloat16":
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy() if not array.flags.writeable else array)
