"""Multivariate Isolation Forest (scikit-learn) over a sliding window of metric vectors."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import IsolationForest

from qops.detectors.base import StreamingDetector
from qops.errors import InvalidSeries
from qops.validation import check_finite_value, check_int

__all__ = ["IsolationForestDetector", "StreamingIsolationForest"]


def _average_path(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    out[n == 2] = 1.0
    return out


class StreamingIsolationForest:
    """Isolation Forest on metric vectors: fitted on the last ``train_window`` vectors and refitted
    every ``refit_every`` vectors (scikit-learn does the fitting); each new vector is scored
    against the current forest by walking the fitted trees in numpy, O(trees x depth) per
    vector, with scikit-learn's own path-length formula, so scores equal ``-score_samples``."""

    def __init__(
        self,
        dimensions: int,
        train_window: int = 512,
        refit_every: int = 256,
        n_estimators: int = 50,
        max_samples: int = 256,
        warmup: int = 64,
        seed: int = 0,
    ) -> None:
        self.dimensions = check_int("dimensions", dimensions, low=1)
        self.train_window = check_int("train_window", train_window, low=8)
        self.refit_every = check_int("refit_every", refit_every, low=1)
        self.n_estimators = check_int("n_estimators", n_estimators, low=1)
        self.max_samples = check_int("max_samples", max_samples, low=2)
        self.warmup = check_int("warmup", warmup, low=2, high=self.train_window)
        self.seed = check_int("seed", seed, low=0)
        self._buffer: deque[np.ndarray] = deque(maxlen=self.train_window)
        self._since_fit = 0
        self._trees: tuple[np.ndarray, ...] | None = None
        self._norm = 1.0

    def _fit(self) -> None:
        data = np.array(self._buffer)
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(data)),
            random_state=self.seed,
        ).fit(data)
        trees = [est.tree_ for est in forest.estimators_]
        width = max(t.node_count for t in trees)

        def pad(attr: str, fill: float) -> np.ndarray:
            out = np.full((len(trees), width), fill)
            for i, t in enumerate(trees):
                out[i, : t.node_count] = getattr(t, attr)
            return out

        left = pad("children_left", -1).astype(np.int64)
        right = pad("children_right", -1).astype(np.int64)
        feature = pad("feature", 0).astype(np.int64)
        feature[feature < 0] = 0
        threshold = pad("threshold", 0.0)
        leaf_path = _average_path(pad("n_node_samples", 1.0))
        depth = np.zeros((len(trees), width))
        for i, t in enumerate(trees):
            for node in range(t.node_count):  # parents come before children in sklearn trees
                for child in (t.children_left[node], t.children_right[node]):
                    if child >= 0:
                        depth[i, child] = depth[i, node] + 1
        self._trees = (left, right, feature, threshold, depth + leaf_path, depth)
        self._norm = float(_average_path(np.array([forest.max_samples_]))[0])
        self._since_fit = 0

    @property
    def fitted(self) -> bool:
        return self._trees is not None

    def score_vector(self, vector: np.ndarray) -> float:
        """``2^(-E[h(x)]/c(n))`` in (0, 1]: near 1 is isolated quickly (anomalous)."""
        if self._trees is None:
            raise InvalidSeries(
                f"vector: the forest is not fitted yet; it needs {self.warmup} vectors first."
            )
        left, right, feature, threshold, path, _ = self._trees
        rows = np.arange(left.shape[0])
        node = np.zeros(left.shape[0], dtype=np.int64)
        while True:
            children_left = left[rows, node]
            active = children_left >= 0
            if not active.any():
                break
            go_left = vector[feature[rows, node]] <= threshold[rows, node]
            step = np.where(go_left, children_left, right[rows, node])
            node = np.where(active, step, node)
        return float(2.0 ** (-path[rows, node].mean() / self._norm))

    def update(self, vector: Sequence[float] | np.ndarray) -> float:
        x = np.asarray(vector, dtype=float)
        if x.shape != (self.dimensions,):
            raise InvalidSeries(f"vector: expected {self.dimensions} values, got shape {x.shape}.")
        for i, v in enumerate(x):
            check_finite_value(f"vector[{i}]", v)
        score = 0.0
        if self._trees is not None:
            score = self.score_vector(x)
        self._buffer.append(x)
        self._since_fit += 1
        due = self._trees is None and len(self._buffer) >= self.warmup
        if due or (self._trees is not None and self._since_fit >= self.refit_every):
            self._fit()
        return score


class IsolationForestDetector(StreamingDetector):
    """A univariate series as vectors for the forest: the value, its first difference and its
    distance from the mean of the last ``lags`` values (all scaled by the series' range)."""

    name = "isolation_forest"

    def __init__(self, lags: int = 8, seed: int = 0, **forest: int) -> None:
        super().__init__()
        self.lags = check_int("lags", lags, low=1)
        self.forest = StreamingIsolationForest(dimensions=3, seed=seed, **forest)
        self._recent: deque[float] = deque(maxlen=self.lags)

    def _score(self, value: float) -> float:
        if not self._recent:
            self._recent.append(value)
            return 0.0
        vector = np.array([value, value - self._recent[-1], value - float(np.mean(self._recent))])
        self._recent.append(value)
        return self.forest.update(vector)
