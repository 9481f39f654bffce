"""EWMA control chart: exponentially weighted mean and variance, alarm beyond L sigma."""

from __future__ import annotations

import math

from qops.detectors.base import StreamingDetector, unit_score
from qops.validation import check_int, check_number

__all__ = ["EwmaDetector"]


class EwmaDetector(StreamingDetector):
    """O(1) per point. The mean and variance are exponentially weighted with ``alpha``; a point
    is scored by its distance from the mean before it is folded in, in standard deviations.
    :meth:`limits` gives the control limits ``mean ± L·sigma`` for charts and threshold rules."""

    name = "ewma"

    def __init__(
        self,
        alpha: float = 0.05,
        limit_sigmas: float = 3.0,
        warmup: int = 20,
        min_std: float = 1e-9,
    ) -> None:
        super().__init__()
        self.alpha = check_number("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.limit_sigmas = check_number("limit_sigmas", limit_sigmas, low=0.0, low_open=True)
        self.warmup = check_int("warmup", warmup, low=1)
        self.min_std = check_number("min_std", min_std, low=0.0, low_open=True)
        self.mean: float | None = None
        self.variance = 0.0

    def limits(self) -> tuple[float, float] | None:
        if self.mean is None:
            return None
        width = self.limit_sigmas * max(math.sqrt(self.variance), self.min_std)
        return self.mean - width, self.mean + width

    def out_of_control(self, value: float) -> bool:
        limits = self.limits()
        return limits is not None and not (limits[0] <= value <= limits[1])

    def _score(self, value: float) -> float:
        if self.mean is None:
            self.mean = value
            return 0.0
        deviation = value - self.mean
        std = max(math.sqrt(self.variance), self.min_std)
        score = 0.0 if self.seen < self.warmup else unit_score(deviation / std)
        # West (1979)'s incremental form of the exponentially weighted mean and variance
        increment = self.alpha * deviation
        self.mean += increment
        self.variance = (1.0 - self.alpha) * (self.variance + deviation * increment)
        return score
