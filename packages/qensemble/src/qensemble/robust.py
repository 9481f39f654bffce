"""Byzantine-robust aggregation of worker updates.

Every rule takes ``updates`` as a ``[workers, dim]`` array or a list of state dicts (torch or
numpy values; the result comes back in the same form) and refuses NaN/inf before computing.

- :func:`geometric_median`: Weiszfeld's iteration (smoothed as in Pillutla, Kakade, Harchaoui
  2022, "Robust Aggregation for Federated Learning"); breakdown point 1/2.
- :func:`krum` / :func:`multi_krum`: Blanchard et al. 2017; needs ``n > 2f + 2``.
- :func:`coordinate_median`, :func:`trimmed_mean`: Yin et al. 2018.
- :class:`MadFilter`: rejects workers whose distance to the coordinate median is a robust
  outlier (median absolute deviation), and keeps a per-worker reputation across rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qensemble._updates import Updates, as_matrix, restore
from qensemble.errors import InvalidParameter

__all__ = [
    "RULES",
    "MadFilter",
    "MadResult",
    "aggregate",
    "coordinate_median",
    "geometric_median",
    "krum",
    "krum_scores",
    "mean",
    "multi_krum",
    "trimmed_mean",
]


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise InvalidParameter(f"weights: has shape {w.shape}; pass one weight per worker ({n}).")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidParameter("weights: must be finite, non-negative and not all zero.")
    return w / w.sum()


def mean(updates: Updates, weights: Sequence[float] | np.ndarray | None = None) -> Any:
    """Plain (weighted) averaging, FedAvg's rule: the non-robust baseline."""
    matrix, layout = as_matrix(updates)
    return restore(_weights(weights, len(matrix)) @ matrix, layout)


def geometric_median(
    updates: Updates,
    weights: Sequence[float] | np.ndarray | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-7,
    eps: float = 1e-10,
) -> Any:
    """The point minimising the (weighted) sum of Euclidean distances to the updates.

    Weiszfeld's fixed point ``z <- sum(w_i x_i / d_i) / sum(w_i / d_i)`` from the weighted
    mean, with distances floored at ``eps`` (so an iterate on a data point does not divide by
    zero); stops when ``z`` moves less than ``tol`` times its scale.
    """
    matrix, layout = as_matrix(updates)
    w = _weights(weights, len(matrix))
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 1:
        raise InvalidParameter(f"max_iter: is {max_iter!r}; pass an integer >= 1.")
    z = w @ matrix
    scale = max(1.0, float(np.abs(matrix).max()))
    for _ in range(max_iter):
        distances = np.maximum(np.linalg.norm(matrix - z, axis=1), eps)
        beta = w / distances
        new = beta @ matrix / beta.sum()
        moved = float(np.linalg.norm(new - z))
        z = new
        if moved <= tol * scale:
            break
    return restore(z, layout)


def _check_f(f: object, n: int, extra: int, rule: str) -> int:
    if not isinstance(f, int | np.integer) or isinstance(f, bool) or f < 0:
        raise InvalidParameter(f"f: is {f!r}; pass the number of Byzantine workers, an int >= 0.")
    if n <= 2 * int(f) + extra:
        raise InvalidParameter(
            f"f: {rule} with {n} workers tolerates at most f = {max((n - extra - 1) // 2, -1)} "
            f"(it needs n > 2f + {extra}); got f = {f}. Lower f or add workers."
        )
    return int(f)


def krum_scores(updates: Updates, f: int) -> np.ndarray:
    """Krum's score per worker: the sum of squared distances to its ``n - f - 2`` nearest peers."""
    matrix, _ = as_matrix(updates)
    n = len(matrix)
    f = _check_f(f, n, 2, "Krum")
    sq = np.square(matrix).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * matrix @ matrix.T, 0.0)
    np.fill_diagonal(d2, np.inf)
    nearest = np.sort(d2, axis=1)[:, : n - f - 2]
    return nearest.sum(axis=1)


def krum(updates: Updates, f: int) -> Any:
    """The one update with the lowest Krum score (ties: the lowest index)."""
    matrix, layout = as_matrix(updates)
    scores = krum_scores(matrix, f)
    return restore(matrix[int(np.argmin(scores))].copy(), layout)


def multi_krum(updates: Updates, f: int, m: int | None = None) -> Any:
    """The mean of the ``m`` updates with the lowest Krum scores (default ``m = n - f``)."""
    matrix, layout = as_matrix(updates)
    scores = krum_scores(matrix, f)
    n = len(matrix)
    if m is None:
        m = n - int(f)
    if not isinstance(m, int | np.integer) or isinstance(m, bool) or not 1 <= m <= n:
        raise InvalidParameter(f"m: is {m!r}; pass an int between 1 and the {n} workers.")
    chosen = np.argsort(scores, kind="stable")[: int(m)]
    return restore(matrix[chosen].mean(axis=0), layout)


def coordinate_median(updates: Updates) -> Any:
    """The median of every coordinate separately."""
    matrix, layout = as_matrix(updates)
    return restore(np.median(matrix, axis=0), layout)


def trimmed_mean(updates: Updates, trim: float | int = 0.1) -> Any:
    """Per coordinate, drop the ``k`` largest and ``k`` smallest values and average the rest.

    ``trim``: an int is ``k`` itself; a float in ``[0, 0.5)`` is the fraction of workers cut
    at each end (``k = floor(trim * n)``). Needs ``n > 2k``.
    """
    matrix, layout = as_matrix(updates)
    n = len(matrix)
    if isinstance(trim, bool) or not isinstance(trim, int | float | np.integer | np.floating):
        raise InvalidParameter(f"trim: is {trim!r}; pass an int count or a fraction in [0, 0.5).")
    if isinstance(trim, int | np.integer):
        k = int(trim)
    else:
        if not 0.0 <= float(trim) < 0.5:
            raise InvalidParameter(f"trim: is {trim}; a fraction must be in [0, 0.5).")
        k = int(np.floor(float(trim) * n))
    if k < 0 or n <= 2 * k:
        raise InvalidParameter(
            f"trim: cuts {k} per side from {n} workers, leaving none; use k < n / 2 "
            f"(here at most {(n - 1) // 2})."
        )
    ordered = np.sort(matrix, axis=0)
    return restore(ordered[k : n - k].mean(axis=0), layout)


@dataclass
class MadResult:
    """One round of :class:`MadFilter`: the aggregate and who was kept."""

    aggregate: Any
    accepted: np.ndarray  # bool per worker
    scores: np.ndarray  # robust z-score of each worker's distance to the coordinate median
    reputation: dict[Hashable, float]


@dataclass
class MadFilter:
    """MAD outlier rejection with a per-worker reputation that persists across rounds.

    Each round: distance ``d_i`` of every update to the coordinate median; robust z-score
    ``0.6745 (d_i - median(d)) / MAD(d)``; workers above ``threshold`` are rejected. The
    reputation of a worker is an exponential moving average (``memory``) of "accepted" (1) and
    "rejected" (0), starting at ``prior``; the aggregate is the reputation-weighted mean of the
    accepted updates, and a worker whose reputation before the round is below
    ``min_reputation`` is excluded outright (with the defaults: caught three rounds running,
    it sits out the next one even if its update looks honest, and earns its way back).
    """

    threshold: float = 3.5
    memory: float = 0.6
    prior: float = 1.0
    min_reputation: float = 0.3
    reputation: dict[Hashable, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("threshold", 0.0, np.inf),
            ("memory", 0.0, 1.0),
            ("prior", 0.0, 1.0),
            ("min_reputation", 0.0, 1.0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameter(f"{name}: is {value!r}; pass a number.")
            if not (lo <= value <= hi) or (name == "threshold" and value <= 0):
                raise InvalidParameter(f"{name}: is {value}; pass a value in [{lo}, {hi}].")

    def __call__(self, updates: Updates, workers: Sequence[Hashable] | None = None) -> MadResult:
        matrix, layout = as_matrix(updates)
        n = len(matrix)
        ids = list(range(n)) if workers is None else list(workers)
        if len(ids) != n or len(set(ids)) != n:
            raise InvalidParameter(f"workers: pass {n} distinct worker ids, one per update.")
        centre = np.median(matrix, axis=0)
        distances = np.linalg.norm(matrix - centre, axis=1)
        med = np.median(distances)
        mad = np.median(np.abs(distances - med))
        if mad <= 1e-12 * max(1.0, med):
            # Over half the workers are equally far: flag only the strictly farther ones.
            scores = np.where(distances > med * (1 + 1e-9) + 1e-12, np.inf, 0.0)
        else:
            scores = 0.6745 * (distances - med) / mad
        accepted = scores <= self.threshold
        # Standing before this round decides exclusion; this round's verdict updates it after.
        before = np.array([self.reputation.get(w, self.prior) for w in ids])
        for worker, ok, old in zip(ids, accepted, before, strict=True):
            self.reputation[worker] = self.memory * old + (1 - self.memory) * float(ok)
        rep = np.array([self.reputation[w] for w in ids])
        use = accepted & (before >= self.min_reputation)
        if not use.any():  # never return nothing: fall back to the coordinate median
            return MadResult(restore(centre, layout), use, scores, dict(self.reputation))
        weights = rep * use
        return MadResult(
            restore(weights @ matrix / weights.sum(), layout), use, scores, dict(self.reputation)
        )


RULES: dict[str, Callable[..., Any]] = {
    "mean": mean,
    "geometric_median": geometric_median,
    "krum": krum,
    "multi_krum": multi_krum,
    "coordinate_median": coordinate_median,
    "trimmed_mean": trimmed_mean,
}


def aggregate(updates: Updates, rule: str = "geometric_median", **params: Any) -> Any:
    """Aggregate with a rule named in :data:`RULES` (``params`` go to the rule, e.g. ``f``)."""
    if rule not in RULES:
        raise InvalidParameter(f"rule: unknown {rule!r}; choose one of {', '.join(RULES)}.")
    return RULES[rule](updates, **params)
