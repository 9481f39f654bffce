"""Rolling robust z-score: distance from the window's median in units of its MAD."""

from __future__ import annotations

import bisect
from collections import deque

from qops.detectors.base import StreamingDetector, unit_score
from qops.validation import check_int, check_number

__all__ = ["RobustZDetector"]

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


class RobustZDetector(StreamingDetector):
    """``z = (x - median) / (1.4826 * MAD)`` over the last ``window`` points, O(window) per point
    (a sorted copy of the window is kept with bisect). The score is ``|z| / (|z| + 3)``;
    ``min_scale`` keeps a flat window from turning every wiggle into an alarm."""

    name = "robust_z"

    def __init__(self, window: int = 200, min_periods: int = 20, min_scale: float = 1e-9) -> None:
        super().__init__()
        self.window = check_int("window", window, low=3)
        self.min_periods = check_int("min_periods", min_periods, low=3, high=self.window)
        self.min_scale = check_number("min_scale", min_scale, low=0.0, low_open=True)
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    @staticmethod
    def _median(values: list[float]) -> float:
        n = len(values)
        mid = n // 2
        return values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])

    def zscore(self, value: float) -> float | None:
        if len(self._sorted) < self.min_periods:
            return None
        median = self._median(self._sorted)
        mad = self._median(sorted(abs(v - median) for v in self._sorted))
        scale = max(MAD_TO_SIGMA * mad, self.min_scale)
        return (value - median) / scale

    def _score(self, value: float) -> float:
        z = self.zscore(value)
        self._fifo.append(value)
        bisect.insort(self._sorted, value)
        if len(self._fifo) > self.window:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        return 0.0 if z is None else unit_score(z)
