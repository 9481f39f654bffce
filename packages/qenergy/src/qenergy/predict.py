"""Job power predictors with split-conformal intervals: per-GPU-type linear, gradient boosting.

Every model predicts the per-GPU power of a job from what is known before it runs (GPU type,
kind, precision, model size, batch, sequence length, GPU count) and scales by ``gpus``.
``ConformalPredictor`` wraps a fitted model: on a held-out calibration set it takes the
``ceil((n + 1)(1 - alpha)) / n`` quantile of the absolute per-GPU residuals (split conformal
prediction, Vovk et al. 2005; Lei et al. 2018), which gives intervals that cover a new job
with probability at least ``1 - alpha`` when jobs are exchangeable.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from qenergy.errors import InvalidParameter, MissingColumn

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "ConformalPredictor",
    "GradientBoostingPower",
    "LinearPower",
    "fill_power",
    "mape",
]

NUMERIC = ["gpus", "model_params_b", "batch_size", "seq_len"]
CATEGORICAL = ["gpu_type", "kind", "precision"]


def check_features(frame: pd.DataFrame, target: bool = False) -> None:
    need = NUMERIC + CATEGORICAL + (["power_w"] if target else [])
    for col in need:
        if col not in frame.columns:
            raise MissingColumn(f"{col}: missing; a power predictor needs {', '.join(need)}.")
    for col in NUMERIC:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
        if bad.size:
            raise InvalidParameter(
                f"{col}: row {int(bad[0])} is {frame[col].iloc[bad[0]]!r}; need a number > 0."
            )


def _encoder(categorical: list[str]) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", FunctionTransformer(np.log), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )


def mape(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    return float(np.mean(np.abs(pred - y) / np.abs(y)) * 100)


class LinearPower:
    """One ridge regression per GPU type on log features and one-hot kind/precision."""

    name = "linear"

    def __init__(self, seed: int = 0) -> None:
        self.models: dict[str, Pipeline] = {}
        self.fallback: Pipeline | None = None

    def fit(self, frame: pd.DataFrame) -> LinearPower:
        check_features(frame, target=True)
        y = frame["power_w"].to_numpy(float) / frame["gpus"].to_numpy(float)
        cats = ["kind", "precision"]
        for gpu_type, idx in frame.groupby("gpu_type").indices.items():
            self.models[str(gpu_type)] = Pipeline(
                [("enc", _encoder(cats)), ("fit", Ridge(alpha=1e-3))]
            ).fit(frame.iloc[idx], y[idx])
        self.fallback = Pipeline([("enc", _encoder(CATEGORICAL)), ("fit", Ridge(alpha=1e-3))]).fit(
            frame, y
        )
        return self

    def predict_per_gpu(self, frame: pd.DataFrame) -> np.ndarray:
        check_features(frame)
        out = np.empty(len(frame))
        for gpu_type, idx in frame.groupby("gpu_type").indices.items():
            model = self.models.get(str(gpu_type), self.fallback)
            out[idx] = model.predict(frame.iloc[idx])  # type: ignore[union-attr]
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_per_gpu(frame) * frame["gpus"].to_numpy(float)


class GradientBoostingPower(LinearPower):
    """scikit-learn's histogram gradient boosting on the same features (seeded)."""

    name = "gbm"

    def __init__(self, seed: int = 0) -> None:
        self.model = Pipeline(
            [
                ("enc", _encoder(CATEGORICAL)),
                (
                    "fit",
                    HistGradientBoostingRegressor(
                        max_iter=200, learning_rate=0.08, random_state=seed
                    ),
                ),
            ]
        )

    def fit(self, frame: pd.DataFrame) -> GradientBoostingPower:
        check_features(frame, target=True)
        self.model.fit(frame, frame["power_w"].to_numpy(float) / frame["gpus"].to_numpy(float))
        return self

    def predict_per_gpu(self, frame: pd.DataFrame) -> np.ndarray:
        check_features(frame)
        return self.model.predict(frame)


class ConformalPredictor:
    """Split-conformal intervals around a fitted per-GPU model (absolute residuals, per GPU)."""

    def __init__(self, model: object, alpha: float = 0.1) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise InvalidParameter(
                f"alpha: {alpha!r}; the miscoverage must be in (0, 1), e.g. 0.1."
            )
        self.model = model
        self.alpha = float(alpha)
        self.residuals: np.ndarray | None = None

    @property
    def name(self) -> str:
        return str(getattr(self.model, "name", type(self.model).__name__))

    def calibrate(self, frame: pd.DataFrame) -> ConformalPredictor:
        y = frame["power_w"].to_numpy(float) / frame["gpus"].to_numpy(float)
        self.residuals = y - self.model.predict_per_gpu(frame)  # type: ignore[attr-defined]
        return self

    def _quantile(self, values: np.ndarray, level: float) -> float:
        n = len(values)
        rank = math.ceil((n + 1) * level)
        if rank > n:
            return float("inf")  # too few calibration points for this level: honest, unbounded
        return float(np.sort(values)[rank - 1])

    def interval(
        self, frame: pd.DataFrame, alpha: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, lower, upper) of each job's total power, in watts."""
        if self.residuals is None:
            raise InvalidParameter(
                "calibrate: call calibrate(frame) on held-out jobs before interval()."
            )
        a = self.alpha if alpha is None else alpha
        q = self._quantile(np.abs(self.residuals), 1 - a)
        per_gpu = self.model.predict_per_gpu(frame)  # type: ignore[attr-defined]
        g = frame["gpus"].to_numpy(float)
        return per_gpu * g, np.maximum(per_gpu - q, 0) * g, (per_gpu + q) * g

    def upper(self, frame: pd.DataFrame, probability: float) -> np.ndarray:
        """One-sided bound: each job draws at most this with ``probability`` (signed residuals)."""
        if self.residuals is None:
            raise InvalidParameter(
                "calibrate: call calibrate(frame) on held-out jobs before upper()."
            )
        q = self._quantile(self.residuals, probability)
        per_gpu = self.model.predict_per_gpu(frame)  # type: ignore[attr-defined]
        return (per_gpu + q) * frame["gpus"].to_numpy(float)

    def sample_errors(self, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Per-GPU residuals drawn from the calibration set (for Monte Carlo checks)."""
        assert self.residuals is not None
        return rng.choice(self.residuals, size=size, replace=True)


def fill_power(jobs: pd.DataFrame, predictor: object) -> pd.DataFrame:
    """A copy of ``jobs`` with ``power_w`` predicted where it is missing (never overwritten)."""
    out = jobs.copy()
    pred = predictor.predict(out)  # type: ignore[attr-defined]
    if "power_w" not in out.columns:
        out["power_w"] = pred
    else:
        missing = pd.to_numeric(out["power_w"], errors="coerce").isna().to_numpy()
        out.loc[missing, "power_w"] = pred[missing]
    out["power_source"] = np.where(
        jobs["power_w"].isna().to_numpy() if "power_w" in jobs.columns else True,
        "predicted",
        "given",
    )
    return out
