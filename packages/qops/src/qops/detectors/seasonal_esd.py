"""Seasonal decomposition + ESD, streaming: a robust seasonal model and a Grubbs/ESD test on
its residuals (the idea of Twitter's Seasonal Hybrid ESD, one point at a time)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy import stats

from qops.detectors.base import StreamingDetector
from qops.validation import check_int

__all__ = ["SeasonalEsdDetector", "estimate_period"]


def estimate_period(values: np.ndarray, min_period: int = 4, min_correlation: float = 0.3) -> int:
    """The lag (>= ``min_period``, <= n/3) with the highest autocorrelation that is a local peak
    above ``min_correlation``; 0 when the series shows no season."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if n < 3 * min_period:
        return 0
    x = x - x.mean()
    denominator = float(np.dot(x, x))
    if denominator <= 0:
        return 0
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: n // 3 + 2] / denominator
    best, best_value = 0, min_correlation
    for lag in range(min_period, acf.size - 1):
        if acf[lag] > best_value and acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1]:
            best, best_value = lag, float(acf[lag])
    return best


class SeasonalEsdDetector(StreamingDetector):
    """Residual = value - median of the same phase over the last ``cycles`` seasons (or of the
    last ``window`` points when there is no season); the newest residual is tested as ESD's
    first step against the last ``window`` residuals with median and MAD (Hochenbaum et al.
    2017); the score is ``L / (L + 3)`` with ``L = -log10 p``, p the test's p-value.
    ``period`` None = estimated by autocorrelation once ``learn`` points have been seen (0 = no
    season). O(window) per point."""

    name = "seasonal_esd"

    def __init__(
        self,
        period: int | None = None,
        cycles: int = 3,
        window: int = 300,
        learn: int = 400,
        max_period: int = 2000,
    ) -> None:
        super().__init__()
        self.period = None if period is None else check_int("period", period, low=0)
        self.cycles = check_int("cycles", cycles, low=1)
        self.window = check_int("window", window, low=10)
        self.learn = check_int("learn", learn, low=12)
        self.max_period = check_int("max_period", max_period, low=2)
        self._history: deque[float] = deque(maxlen=max(self.learn, self.window))
        self._residuals: deque[float] = deque(maxlen=self.window)

    def _baseline(self) -> float | None:
        history = self._history
        if self.period is None:
            return None
        if self.period == 0 or len(history) < self.period:
            recent = list(history)[-min(len(history), 50) :]
            return float(np.median(recent)) if recent else None
        phase = [
            history[-k * self.period]
            for k in range(1, self.cycles + 1)
            if k * self.period <= len(history)
        ]
        return float(np.median(phase))

    def _score(self, value: float) -> float:
        if self.period is None and len(self._history) >= self.learn:
            found = estimate_period(np.array(self._history))
            self.period = found if found <= self.max_period else 0
            if self.period:
                self._history = deque(
                    self._history, maxlen=max(self.period * self.cycles + 1, self.window)
                )
        baseline = self._baseline()
        score = 0.0
        if baseline is not None:
            residual = value - baseline
            if len(self._residuals) >= 20:
                score = self._esd_score(residual)
            self._residuals.append(residual)
        self._history.append(value)
        return score

    def _esd_score(self, residual: float) -> float:
        r = np.fromiter(self._residuals, float)
        n = r.size + 1
        median = float(np.median(r))
        mad = 1.4826 * float(np.median(np.abs(r - median)))
        scale = mad if mad > 0 else float(np.std(r)) or 1e-9
        g = abs(residual - median) / scale
        # Grubbs: G -> t statistic with n-2 degrees of freedom, Bonferroni over n points
        inside = (n - 1) ** 2 - n * g * g
        if inside <= 0:  # beyond the largest G possible for n points
            return 1.0 - 1e-300
        t = math.sqrt(n * (n - 2) * g * g / inside)
        # log of the Bonferroni p-value, kept in logs so that tiny p-values stay ordered
        log_p = min(0.0, math.log(2.0 * n) + float(stats.t.logsf(t, n - 2)))
        surprise = -log_p / math.log(10.0)  # -log10 p
        return surprise / (surprise + 3.0)  # 0.5 at p = 0.001
