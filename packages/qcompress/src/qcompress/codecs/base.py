"""What a codec is, and the checks every codec uses on its settings and on stored parameters.

A codec turns a float (or, for the lossless ones, any) numpy array into named arrays plus JSON
parameters, and back. Settings from the caller are checked with ``setting_*`` (bad ones raise
InvalidSettings); parameters read back from a header are checked with ``param_*`` (bad ones
raise CorruptData): a header is input, never trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from qcompress.container import Segments
from qcompress.errors import CorruptData, InvalidSettings
from qcompress.tensors import TensorInfo

__all__ = [
    "Codec",
    "Encoded",
    "pack_nibbles",
    "param_bool",
    "param_float",
    "param_int",
    "param_str",
    "setting_bool",
    "setting_choice",
    "setting_float",
    "setting_int",
    "unpack_nibbles",
]


@dataclass
class Encoded:
    """A codec's output: JSON-able parameters and named arrays with their default coding."""

    params: dict[str, Any]
    arrays: list[tuple[str, np.ndarray, str]] = field(default_factory=list)


class Codec:
    name: ClassVar[str]
    lossless: ClassVar[bool] = False
    settings: ClassVar[tuple[str, ...]] = ()
    #: the keys a header's params may hold for this codec; any other is refused
    param_keys: ClassVar[frozenset[str]] = frozenset()

    def encode(self, x: np.ndarray, info: TensorInfo, **settings: Any) -> Encoded:
        raise NotImplementedError

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        raise NotImplementedError


def setting_int(value: Any, name: str, low: int, high: int) -> int:
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or not low <= value <= high
    ):
        raise InvalidSettings(f"{name}: must be an integer in {low}..{high}, got {value!r}")
    return int(value)


def setting_float(
    value: Any, name: str, low: float, high: float, *, open_low: bool = False
) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if open_low else v >= low) and v <= high
    if not ok:
        bound = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise InvalidSettings(f"{name}: must be a number in {bound}, got {value!r}")
    return float(value)


def setting_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidSettings(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def setting_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidSettings(f"{name}: must be one of {list(choices)}, got {value!r}")
    return str(value)


def param_int(params: dict[str, Any], key: str, low: int, high: int) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CorruptData(
            f"header: parameter {key!r} must be an integer in {low}..{high}, got {value!r}"
        )
    return value


def param_float(params: dict[str, Any], key: str, *, positive: bool = False) -> float:
    value = params.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise CorruptData(f"header: parameter {key!r} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise CorruptData(f"header: parameter {key!r} must be positive, got {value!r}")
    return float(value)


def param_bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    if not isinstance(value, bool):
        raise CorruptData(f"header: parameter {key!r} must be true or false, got {value!r}")
    return value


def param_str(params: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = params.get(key)
    if value not in choices:
        raise CorruptData(
            f"header: parameter {key!r} must be one of {list(choices)}, got {value!r}"
        )
    return str(value)


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """uint8 codes in 0..15, two per byte (low nibble first); an odd count is padded with 0."""
    flat = codes.astype(np.uint8).ravel()
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint8)])
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray, count: int) -> np.ndarray:
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2] = packed & 0x0F
    out[1::2] = packed >> 4
    return out[:count]


def nibble_bytes(count: int) -> int:
    return (count + 1) // 2


def finite_or_corrupt(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise CorruptData(f"payload: {what} contains NaN or infinity")
    return values
