"""What every streaming detector is: one point in, one anomaly score in [0, 1] out."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qops.errors import InvalidConfig, InvalidSeries
from qops.validation import check_finite_value, check_int, check_number

__all__ = ["SeriesContext", "StreamingDetector", "unit_score"]


@dataclass(frozen=True)
class SeriesContext:
    """What a detector may know before the first point, as in NAB's protocol (``base.py``):
    the range of the values and the length of the series. Nothing about the labels."""

    value_min: float
    value_max: float
    length: int

    def __post_init__(self) -> None:
        check_number("value_min", self.value_min)
        check_number("value_max", self.value_max)
        if self.value_max < self.value_min:
            raise InvalidConfig(
                f"value_max: {self.value_max!r} is below value_min {self.value_min!r}."
            )
        check_int("length", self.length, low=1)

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> SeriesContext:
        array = np.asarray(values, dtype=float)
        if array.size == 0:
            raise InvalidSeries("values: empty series; at least one value is needed.")
        return cls(float(np.min(array)), float(np.max(array)), int(array.size))

    @property
    def probationary(self) -> int:
        """NAB's probationary period for this length: ``min(floor(0.15 n), 750)``."""
        return int(min(math.floor(0.15 * self.length), 750))

    def normalise(self, value: float) -> float:
        span = self.value_max - self.value_min
        return 0.0 if span <= 0 else (value - self.value_min) / span


class StreamingDetector(ABC):
    """A detector that sees one point at a time and answers at once.

    Subclasses implement :meth:`_score` (the value is already checked finite); callers use
    :meth:`update`, which also checks that timestamps, when given, never go backwards.
    """

    name: str = "detector"

    def __init__(self) -> None:
        self._last_timestamp: float | None = None
        self.seen = 0

    @abstractmethod
    def _score(self, value: float) -> float: ...

    def update(self, value: float, timestamp: float | None = None) -> float:
        """The anomaly score in [0, 1] of ``value``, the next point of the series."""
        number = check_finite_value("value", value)
        if timestamp is not None:
            stamp = check_finite_value("timestamp", timestamp)
            if self._last_timestamp is not None and stamp < self._last_timestamp:
                raise InvalidSeries(
                    f"timestamp: {timestamp!r} comes before the previous point's "
                    f"{self._last_timestamp!r} (timestamps out of order)."
                )
            self._last_timestamp = stamp
        score = self._score(number)
        self.seen += 1
        return min(1.0, max(0.0, float(score)))

    def score_series(self, values: Iterable[float]) -> np.ndarray:
        """Feed every value in order; their scores."""
        return np.array([self.update(v) for v in values], dtype=float)


def unit_score(z: float, half: float = 3.0) -> float:
    """``|z| / (|z| + half)``: 0 at the centre, 0.5 at ``half`` deviations, towards 1 beyond.

    Unlike a Gaussian tail probability it never rounds to exactly 1.0 for finite z, so a
    10-sigma and a 100-sigma point stay ordered (NAB's threshold sweep needs that order)."""
    size = abs(z)
    return size / (size + half) if math.isfinite(size) else 1.0
