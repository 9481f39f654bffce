"""Nearest-neighbour conformal detection at several time scales at once.

Many anomalies are slow (a level that drifts over hours, a daily cycle that goes missing),
others are sharp. One :class:`KnnConformalDetector` core per scale sees the series averaged
over blocks of ``scale`` points (scale 1 = the raw points); a coarse core scores once per
block, when the block closes. The output is the highest score of the cores that scored this
point, then one alarm per rest period as in the single-scale detector.
"""

from __future__ import annotations

from collections.abc import Sequence

from qops.detectors.base import SeriesContext, StreamingDetector
from qops.detectors.knn_conformal import KnnConformalDetector
from qops.errors import InvalidConfig
from qops.validation import check_int, check_number

__all__ = ["MultiScaleKnnDetector"]


class MultiScaleKnnDetector(StreamingDetector):
    name = "multiscale_knn"

    def __init__(
        self,
        context: SeriesContext | None = None,
        scales: Sequence[int] = (1, 8),
        alarm_level: float = 0.99,
        rest: int | None = None,
        **core: object,
    ) -> None:
        super().__init__()
        if not scales or len(set(scales)) != len(scales):
            raise InvalidConfig(f"scales: expected distinct block sizes, got {scales!r}.")
        self.scales = tuple(check_int("scales", s, low=1) for s in scales)
        self.alarm_level = check_number("alarm_level", alarm_level, low=0.0, high=1.0)
        default_rest = 30 if context is None else max(1, context.probationary // 5)
        self.rest = default_rest if rest is None else check_int("rest", rest, low=0)
        self.cores = [
            KnnConformalDetector(context, rest=0, alarm_level=1.0, **core)  # type: ignore[arg-type]
            for _ in self.scales
        ]
        self._sums = [0.0] * len(self.scales)
        self._quiet = 0

    def _score(self, value: float) -> float:
        best = 0.0
        position = self.seen + 1
        for i, (scale, core) in enumerate(zip(self.scales, self.cores, strict=True)):
            self._sums[i] += value
            if position % scale == 0:
                best = max(best, core.raw_score(self._sums[i] / scale))
                self._sums[i] = 0.0
        if self._quiet > 0:
            self._quiet -= 1
            return 0.0
        if best >= self.alarm_level:
            self._quiet = self.rest
        return best
