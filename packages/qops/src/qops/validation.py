"""Checks shared by every qops boundary: finite numbers, ordered timestamps, sane parameters."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from qops.errors import InvalidConfig, InvalidSeries

__all__ = [
    "check_finite_value",
    "check_int",
    "check_number",
    "check_series",
    "check_timestamps_increasing",
]


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, or ``InvalidConfig`` naming ``name`` and the range it must be in."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidConfig(f"{name}: expected a number, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidConfig(f"{name}: must be finite, got {value!r}.")
    if low is not None and (number < low or (low_open and number == low)):
        raise InvalidConfig(f"{name}: must be {'>' if low_open else '>='} {low}, got {value!r}.")
    if high is not None and (number > high or (high_open and number == high)):
        raise InvalidConfig(f"{name}: must be {'<' if high_open else '<='} {high}, got {value!r}.")
    return number


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int (bools refused), or ``InvalidConfig`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidConfig(f"{name}: expected an integer, got {value!r}.")
    number = int(value)
    if low is not None and number < low:
        raise InvalidConfig(f"{name}: must be >= {low}, got {value!r}.")
    if high is not None and number > high:
        raise InvalidConfig(f"{name}: must be <= {high}, got {value!r}.")
    return number


def check_finite_value(name: str, value: object) -> float:
    """One observation as a float; ``InvalidSeries`` if NaN, infinite or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidSeries(f"{name}: expected a number, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidSeries(f"{name}: non-finite value {value!r}; drop or impute it first.")
    return number


def check_series(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """A 1-D float array with at least one value, every value finite, or ``InvalidSeries``."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidSeries(f"{name}: not a sequence of numbers ({exc}).") from None
    if array.ndim != 1:
        raise InvalidSeries(f"{name}: expected a 1-D series, got shape {array.shape}.")
    if array.size == 0:
        raise InvalidSeries(f"{name}: empty series; at least one value is needed.")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InvalidSeries(
            f"{name}: non-finite value {array[bad[0]]!r} at index {int(bad[0])} "
            f"({bad.size} in all); drop or impute them first."
        )
    return array


def check_timestamps_increasing(name: str, timestamps: np.ndarray) -> None:
    """``InvalidSeries`` at the first timestamp that is not after the one before it."""
    if timestamps.size < 2:
        return
    steps = np.diff(timestamps)
    bad = np.flatnonzero(steps <= steps.dtype.type(0))
    if bad.size:
        i = int(bad[0]) + 1
        raise InvalidSeries(
            f"{name}: timestamps out of order at row {i}: {timestamps[i]} does not come after "
            f"{timestamps[i - 1]}; sort the series and drop duplicates."
        )
