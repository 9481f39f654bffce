"""Nearest-neighbour conformal anomaly detection (the KNN-CAD family that leads NAB with CAD OSE).

Each point closes a lag vector of the last ``dim`` values, scaled to [0, 1] by the series'
range. Its non-conformity is the mean distance to its ``k`` nearest neighbours among the
``reference`` vectors before it (the ``dim`` overlapping vectors just before it are left out:
they are trivially similar). The conformal p-value is the share of the last ``calibration``
non-conformities at least as large; the raw score is ``1 - p``.

With ``gate`` > 0 the score is also multiplied by ``min(1, alpha / (gate * median))``, the
median of the calibration non-conformities: a rare rank alone is not an anomaly, the distance
must also be large (a clean signal that never repeats exactly would otherwise alarm on 1 %
of its points, whatever happens).

An alarm, like CAD OSE's rest period, is reported once: after a raw score at or above
``alarm_level`` the output stays 0 for ``rest`` points (default: a fifth of NAB's
probationary period for the series), so one anomaly yields one detection.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from qops.detectors.base import SeriesContext, StreamingDetector
from qops.errors import InvalidConfig
from qops.validation import check_int, check_number

__all__ = ["KnnConformalDetector"]


class KnnConformalDetector(StreamingDetector):
    name = "knn_conformal"

    def __init__(
        self,
        context: SeriesContext | None = None,
        dim: int = 10,
        k: int = 5,
        reference: int = 3000,
        calibration: int = 1000,
        alarm_level: float = 0.99,
        rest: int | None = None,
        min_reference: int = 60,
        rule: str = "conformal",
        smooth: int = 1,
        gate: float = 3.0,
    ) -> None:
        super().__init__()
        self.context = context
        self.dim = check_int("dim", dim, low=1)
        self.k = check_int("k", k, low=1)
        self.reference = check_int("reference", reference, low=self.k + 1)
        self.calibration = check_int("calibration", calibration, low=10)
        self.alarm_level = check_number("alarm_level", alarm_level, low=0.0, high=1.0)
        default_rest = 30 if context is None else max(1, context.probationary // 5)
        self.rest = default_rest if rest is None else check_int("rest", rest, low=0)
        self.min_reference = check_int("min_reference", min_reference, low=self.k)
        if rule not in ("conformal", "record"):
            raise InvalidConfig(f"rule: {rule!r}; use 'conformal' or 'record'.")
        self.rule = rule
        self.smooth = check_int("smooth", smooth, low=1)
        self.gate = check_number("gate", gate, low=0.0)
        self._alphas: deque[float] = deque(maxlen=self.smooth)
        self._recent: deque[float] = deque(maxlen=self.dim)
        self._vectors = np.zeros((self.reference + self.dim, self.dim))
        self._stored = 0
        self._scores: deque[float] = deque(maxlen=self.calibration)
        self._quiet = 0
        self._low = np.inf
        self._high = -np.inf

    def _scale(self, value: float) -> float:
        if self.context is not None:
            return self.context.normalise(value)
        self._low, self._high = min(self._low, value), max(self._high, value)
        span = self._high - self._low
        return 0.0 if span <= 0 else (value - self._low) / span

    def raw_score(self, value: float) -> float:
        self._recent.append(self._scale(value))
        if len(self._recent) < self.dim:
            return 0.0
        vector = np.fromiter(self._recent, float, self.dim)
        capacity = self._vectors.shape[0]
        usable = min(self._stored, capacity) - self.dim  # leave out the overlapping ones
        score = 0.0
        if usable >= self.min_reference:
            # the ring holds the newest vector at (stored-1) % capacity; skip the newest dim
            newest = self._stored - 1
            idx = (newest - self.dim - np.arange(usable)) % capacity
            d = np.sqrt(((self._vectors[idx] - vector) ** 2).sum(axis=1))
            kk = min(self.k, d.size)
            self._alphas.append(float(np.partition(d, kk - 1)[:kk].mean()))
            alpha = sum(self._alphas) / len(self._alphas)  # short-term mean, as HTM's likelihood
            if len(self._scores) >= 10:
                past = np.fromiter(self._scores, float)
                if self.rule == "conformal":
                    score = 1.0 - (np.count_nonzero(past >= alpha) + 1) / (past.size + 1)
                    if self.gate > 0:  # a rare rank alone is not enough: so must the size be
                        typical = max(float(np.median(past)), 1e-12)
                        score *= min(1.0, alpha / (self.gate * typical))
                else:  # how far past the largest non-conformity of the calibration window
                    ratio = alpha / max(float(past.max()), 1e-12)
                    score = ratio / (1.0 + ratio)
            self._scores.append(alpha)
        self._vectors[self._stored % capacity] = vector
        self._stored += 1
        return score

    def _score(self, value: float) -> float:
        raw = self.raw_score(value)
        if self._quiet > 0:
            self._quiet -= 1
            return 0.0
        if raw >= self.alarm_level:
            self._quiet = self.rest
        return raw
