"""Output warping: standardise, then Yeo-Johnson, then standardise again.

Training losses and test functions such as Rosenbrock are heavy-tailed: a few very bad
trials would dominate a GP fitted on raw values and flatten the model where the good trials
are. A Yeo-Johnson power transform (lambda by maximum likelihood, scipy) makes the values
closer to Gaussian; it is monotone, so the best trial stays the best and expected improvement
in the warped space still points at lower objective values.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["OutputWarp"]


class OutputWarp:
    def __init__(self, warp: bool = True) -> None:
        self.warp = warp

    def fit_transform(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        self.mean = float(y.mean())
        self.std = float(y.std()) or 1.0
        z = (y - self.mean) / self.std
        self.lmbda: float | None = None
        if self.warp and len(y) >= 3 and np.ptp(z) > 0:
            with warnings.catch_warnings():
                # scipy warns when the MLE search is flat; the fallback below handles it
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    z2, lmbda = stats.yeojohnson(z)
                except (ValueError, FloatingPointError):
                    z2, lmbda = z, None
            if lmbda is not None and np.all(np.isfinite(z2)) and np.ptp(z2) > 0:
                z, self.lmbda = z2, float(lmbda)
        self.mean2 = float(z.mean())
        self.std2 = float(z.std()) or 1.0
        return (z - self.mean2) / self.std2

    def transform(self, y: np.ndarray) -> np.ndarray:
        z = (np.asarray(y, dtype=float) - self.mean) / self.std
        if self.lmbda is not None:
            z = stats.yeojohnson(z, lmbda=self.lmbda)
        return (z - self.mean2) / self.std2
