"""Forecast-driven scaling: Holt-Winters (statsmodels' seasonal exponential smoothing) predicts
the load ``horizon`` steps ahead, so replicas are started before the load arrives.

The forecast may only add capacity: the replicas applied are ``max(reactive, forecast)``,
where ``reactive`` is the HPA rule on the metric now. Scale-in is therefore always the
reactive rule's decision, never the forecast's alone. ``forecast_only=True`` computes and
reports the forecast recommendation but applies the reactive one (a dry run to build trust).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np

from qops.scaling.hpa import HorizontalPodAutoscaler, desired_replicas
from qops.validation import check_finite_value, check_int, check_number

__all__ = ["HoltWintersForecaster", "PredictiveScaler", "ScalingDecision"]


class HoltWintersForecaster:
    """Keeps the last ``history`` observations; every ``refit_every`` of them refits an
    additive-trend, additive-season model (damped trend) and forecasts ``horizon`` steps."""

    def __init__(
        self,
        season_length: int,
        horizon: int = 6,
        history: int | None = None,
        refit_every: int = 12,
    ) -> None:
        self.season_length = check_int("season_length", season_length, low=2)
        self.horizon = check_int("horizon", horizon, low=1)
        self.history = check_int(
            "history",
            history if history is not None else 4 * self.season_length,
            low=2 * self.season_length + 2,
        )
        self.refit_every = check_int("refit_every", refit_every, low=1)
        self._values: deque[float] = deque(maxlen=self.history)
        self._since_fit = 0
        self._forecast: np.ndarray | None = None
        self._offset = 0

    def observe(self, value: float) -> None:
        self._values.append(check_finite_value("value", value))
        self._since_fit += 1
        self._offset += 1

    def _fit(self) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        data = np.fromiter(self._values, float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on short or flat windows
            model = ExponentialSmoothing(
                data,
                trend="add",
                damped_trend=True,
                seasonal="add",
                seasonal_periods=self.season_length,
                initialization_method="heuristic",
            ).fit(use_brute=False)
            forecast = np.asarray(model.forecast(self.horizon + self.refit_every), dtype=float)
        self._forecast = np.where(np.isfinite(forecast), forecast, data[-1])
        self._since_fit = 0
        self._offset = 0

    def forecast(self) -> np.ndarray | None:
        """The next ``horizon`` values, or None until two seasons have been seen."""
        if len(self._values) < 2 * self.season_length + 2:
            return None
        if self._forecast is None or self._since_fit >= self.refit_every:
            self._fit()
        assert self._forecast is not None
        return self._forecast[self._offset : self._offset + self.horizon]


@dataclass(frozen=True)
class ScalingDecision:
    replicas: int
    reactive: int
    forecast: int | None  # what the forecast alone asked for (None before it has one)


class PredictiveScaler:
    """Reactive HPA plus a forecast of the total load. ``capacity_target`` is the load one
    replica should carry (the HPA target in load units)."""

    def __init__(
        self,
        hpa: HorizontalPodAutoscaler,
        forecaster: HoltWintersForecaster,
        capacity_target: float,
        forecast_only: bool = False,
    ) -> None:
        self.hpa = hpa
        self.forecaster = forecaster
        self.capacity_target = check_number(
            "capacity_target", capacity_target, low=0.0, low_open=True
        )
        self.forecast_only = bool(forecast_only)

    def decide(self, now: float, current: int, load: float) -> ScalingDecision:
        load = check_finite_value("load", load)
        self.forecaster.observe(load)
        serving = max(current, 1)
        reactive_raw = desired_replicas(
            serving, load / serving, self.capacity_target, self.hpa.tolerance
        )
        ahead = self.forecaster.forecast()
        wanted = None
        if ahead is not None:
            wanted = math.ceil(max(float(np.max(ahead)), 0.0) / self.capacity_target)
        raw = reactive_raw
        if wanted is not None and not self.forecast_only and wanted > reactive_raw:
            # the forecast only ever adds: any scale-in below `current` is the reactive rule's
            raw = wanted
        replicas = self.hpa.apply(now, current, raw)
        return ScalingDecision(replicas, reactive_raw, wanted)
