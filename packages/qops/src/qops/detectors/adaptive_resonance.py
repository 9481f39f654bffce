"""An adaptive-resonance detector: the ARTime method (Hampton 2021), written in numpy.

ARTime leads the NAB scoreboard (74.9 standard). Its idea, in plain terms:

1. Downsample the series so that a probationary period holds about 13 windows of 8 samples;
   each downsampled sample is the block's extreme (the side further from a running mean)
   unless it is within 10 % of the block mean.
2. Quantise to 80 levels of the series' range and snap values within 0.075 of a running
   median level onto it (so small wiggles around the usual level read as "usual").
3. A feature vector per step: the last 8 levels, min-max scaled, and their full Haar wavelet
   transform, min-max scaled (16 values in [0, 1]).
4. A dual-vigilance fuzzy ART network (DVFA; Brito da Silva et al. 2019) clusters the feature
   vectors online. A step whose best category matches below the lower vigilance ``rho_lb``
   founds a new cluster: that is an anomaly candidate. Its score is a confidence from how far
   below the vigilances the match was and how badly the current level matched.
5. The vigilances adapt: ``rho_ub`` tracks the running mean match, ``rho_lb`` moves towards the
   recent minimum match, with masking after each anomaly and after each new category so one
   event raises one alarm.

The constants are ARTime's (github.com/markNZed/ARTimeNAB.jl, MIT licence), which were set on
NAB; this file is our own numpy implementation of that method, checked against its published
NAB score in docs/benchmarks.md. Per point the cost is O(categories x 32) on the steps that
are not skipped by downsampling; categories grow with the series' novelty.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from qops.detectors.base import SeriesContext, StreamingDetector
from qops.errors import InvalidConfig

__all__ = ["AdaptiveResonanceDetector", "DualVigilanceArt", "haar_dwt"]

_SQRT_HALF = math.sqrt(0.5)


def haar_dwt(x: np.ndarray) -> np.ndarray:
    """Full orthonormal Haar transform of a power-of-two vector, in the layout of Julia's
    Wavelets.jl ``dwt(x, wavelet(WT.haar))``: ``[s_L, d_L, d_(L-1), ..., d_1]`` with details
    ``(later - earlier) / sqrt(2)``."""
    out = np.empty_like(x, dtype=float)
    s = np.asarray(x, dtype=float)
    n = s.size
    while n > 1:
        even, odd = s[0::2], s[1::2]
        out[n // 2 : n] = (odd - even) * _SQRT_HALF
        s = (even + odd) * _SQRT_HALF
        n //= 2
    out[0] = s[0]
    return out


class DualVigilanceArt:
    """Dual-vigilance fuzzy ART with complement coding and fast commit (ARTime's variant).

    The match of a category is ``fuzzy_match^3 * level_match^2``, where the level match looks
    only at the last feature (the current level) and its complement.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.rho_lb = 0.0
        self.rho_ub = 0.0
        self.weights = np.empty((0, 2 * dim))  # one row per category
        self.matches: list[float] = []  # best match of every trained sample, in order
        self.level_matches: list[float] = []

    def _activations(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.weights
        em = np.minimum(sample[None, :], w)
        norm_w = w.sum(axis=1)
        norm_w[norm_w == 0] = 0.001
        feature = em.sum(axis=1) / norm_w
        last = self.dim - 1
        level_w = w[:, last] + w[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            level = (em[:, last] + em[:, -1]) / level_w
        return feature**3 * level**2, level, em

    def train(self, features: np.ndarray, learning: bool = True) -> int:
        """Present one feature vector; its cluster label, or -1 for a mismatch."""
        sample = np.concatenate([features, 1.0 - features])
        if self.weights.shape[0] == 0:
            # ARTime starts from one all-ones category and skips the first sample
            self.weights = np.ones((1, 2 * self.dim))
            self.labels = [1]
            self.clusters = 1
            self.matches.append(0.0)
            self.level_matches.append(0.0)
            return 1
        match, level, em = self._activations(sample)
        # descending, stable; NaN (0/0 level match) first, as Julia's sortperm(rev=true) does
        key = np.where(np.isnan(match), -np.inf, -match)
        order = np.argsort(key, kind="stable")
        best, best_level = 0.0, 0.0
        mismatch, label = True, -1
        for j in order:
            m = match[j]
            if m > best:
                best, best_level = float(m), float(level[j])
            if not learning:
                continue
            if m >= self.rho_ub:
                self.weights[j] = em[j]  # fast commit towards the sample
                if m >= best:
                    label = self.labels[j]
                mismatch = False
            elif m >= self.rho_lb and mismatch:
                if m >= best:
                    label = self.labels[j]
                self.labels.append(label)
                self.weights = np.vstack([self.weights, sample])
                mismatch = False
                break
            else:
                break
        self.matches.append(best)
        self.level_matches.append(best_level)
        if mismatch and learning:
            label = -1
            self.clusters += 1
            self.labels.append(self.clusters)
            self.weights = np.vstack([self.weights, sample])
        return label


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity, with ARTime's convention for zero vectors."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0:
        return 1.0 - nb
    if nb == 0.0:
        return 1.0 - na
    return float(a @ b) / (na * nb)


class AdaptiveResonanceDetector(StreamingDetector):
    """ARTime's detector (see the module docstring); one parameter set for every series."""

    name = "adaptive_resonance"

    def __init__(
        self,
        context: SeriesContext,
        *,
        window: int = 8,
        windows_per_probation: int = 13,
        levels: int = 80,
        snap: float = 0.075,
        initial_rho: float = 0.80,
        magnitude_gate: float | None = None,
    ) -> None:
        super().__init__()
        if magnitude_gate is not None and not magnitude_gate > 0:
            raise InvalidConfig(
                f"magnitude_gate: {magnitude_gate!r}; use a positive number of standard "
                "deviations, or None for ARTime's scores unchanged."
            )
        self.magnitude_gate = magnitude_gate
        self.context = context
        self.window = window
        self.levels = levels
        self.snap = snap
        self.initial_rho = initial_rho
        n = context.length
        probation = math.floor(0.15 * n) if n < 5000 else 750
        self.probation = probation - probation % 2
        self.step = max(1, self.probation // (window * windows_per_probation))
        self.trend = self.probation // self.step
        self.mask = int(window * 1.5)
        self.i = 1  # points seen, 1-based as in ARTime
        self.dsi = 1  # downsampled steps, 1-based
        self.block: list[float] = [0.0] * self.step
        self.moving_average = 0.0
        self.level_counts = np.zeros(levels + 1, dtype=np.int64)
        self.median_level = 0
        self.below_median = 0
        self.above_median = 0
        self.levels_window = np.zeros(window)
        self.art = DualVigilanceArt(2 * window)
        self.warmup: list[np.ndarray] = []
        self.last_anomaly_i = 0
        self.last_anomaly_match = 0.0
        self.last_rho_update_i = 0
        self.mask_after_category = False
        self.steps_without_new_category = 0
        self.anomaly_matches: list[float] = []
        self.match_sum, self.match_count = 0.0, 0
        self.match_window = np.ones(self.trend // 2 + 1)
        self.gap_window = np.zeros(self.trend + 1)
        # the raw points the magnitude gate compares: a probationary period, then the block
        self.history: deque[float] = deque(maxlen=self.probation + self.step)

    # --------------------------------------------------------------- the point stream
    def _score(self, value: float) -> float:
        self.block = [*self.block[1:], value]
        if self.magnitude_gate is not None:
            self.history.append(value)
        score = 0.0
        if self.i % self.step == 0:
            score = self._downsampled(self._block_value())
            self.dsi += 1
            if score > 0 and self.magnitude_gate is not None:
                score *= self._magnitude_factor()
        self.i += 1
        return score

    def _magnitude_factor(self) -> float:
        """``z / (z + gate)``: ``z`` is how far the block that raised the alarm lies from the
        median of the points before it (up to a probationary period of them), in their
        standard deviations. ART judges shape; this keeps an alarm's score high only when the
        block is also far from the usual level, which is what separates NAB's labelled events
        from ART's false alarms on bursty series (docs/qops.md)."""
        values = np.fromiter(self.history, dtype=float)
        reference, block = values[: -self.step], values[-self.step :]
        if reference.size < 2:
            return 1.0
        span = self.context.value_max - self.context.value_min
        spread = float(reference.std()) + 1e-3 * span
        if spread <= 0:
            return 1.0
        z = float(np.max(np.abs(block - np.median(reference)))) / spread
        return z / (z + self.magnitude_gate)

    def _block_value(self) -> float:
        block = self.block
        mean = sum(block) / len(block)
        high, low = max(block), min(block)
        if self.dsi == 1:
            self.moving_average = mean
        self.moving_average = (self.moving_average + mean) / 2
        value = high
        if abs(high - self.moving_average) < abs(low - self.moving_average):
            value = low  # a spike below the mean
        if abs(value - mean) < 0.1 * mean:
            value = mean  # a spike must be at least 10 % off the mean
        return value

    def _downsampled(self, value: float) -> float:
        span = self.context.value_max - self.context.value_min
        x = value - self.context.value_min
        if span != 0:
            x /= span
        level = min(self.levels, max(0, round(x * self.levels)))
        x = level / self.levels
        self._track_median(level)
        median = self.median_level / self.levels
        if abs(x - median) < self.snap:
            x = median
        self.levels_window = np.append(self.levels_window[1:], x)
        features = np.zeros(2 * self.window)
        if self.dsi >= self.window:
            features = np.concatenate(
                [_unit(haar_dwt(_unit(self.levels_window))), self.levels_window]
            )
        return self._features(features)

    def _track_median(self, level: int) -> None:
        """ARTime's approximate running median over the level histogram."""
        counts = self.level_counts
        counts[level] += 1
        half = self.dsi // 2
        if self.dsi == 1:
            self.median_level = level
        if self.median_level > level:
            self.below_median += 1
        elif self.median_level < level:
            self.above_median += 1
        if half < self.above_median:
            self.below_median += counts[self.median_level]
            self.median_level += 1
            while self.median_level < self.levels and counts[self.median_level] == 0:
                self.median_level += 1
            self.above_median -= counts[self.median_level]
        elif half < self.below_median:
            self.above_median += counts[self.median_level]
            self.median_level -= 1
            while self.median_level > 0 and counts[self.median_level] == 0:
                self.median_level -= 1
            self.below_median -= counts[self.median_level]

    # --------------------------------------------------------------- the ART stage
    def _features(self, features: np.ndarray) -> float:
        i = self.dsi
        if i > self.trend:
            return self._detect(features, i)
        self.warmup.append(features)
        if i == self.trend:  # the probationary period, as one batch
            batch = self.warmup[self.window - 1 : self.trend]
            rho = self._initial_rho(np.array(batch)) if batch else self.initial_rho
            self.art.rho_lb = self.art.rho_ub = rho
            for k, f in enumerate(self.warmup, start=1):
                self._detect(f, k)
            self.warmup = []
        return 0.0

    def _initial_rho(self, batch: np.ndarray) -> float:
        count = batch.shape[0]
        sim = np.ones((count, count))
        for a in range(count):
            for b in range(a):
                sim[a, b] = sim[b, a] = _similarity(batch[a], batch[b])
        order = np.argsort(sim.sum(axis=0), kind="stable")
        art = DualVigilanceArt(2 * self.window)
        art.rho_lb = art.rho_ub = self.initial_rho
        for f in batch[order]:
            art.train(f)
        settled = art.matches[max(0, self.trend // 2 - 1) :]
        return float(np.mean(settled)) if settled else self.initial_rho

    def _detect(self, features: np.ndarray, i: int) -> float:
        art = self.art
        since = i - self.last_anomaly_i
        update_after_anomaly = since == self.mask
        update_for_trend = (i - self.last_rho_update_i) >= self.trend // 2
        masked_after_anomaly = since <= self.mask
        if (
            i > self.trend + self.mask
            and self.mask_after_category
            and self.steps_without_new_category >= self.mask
        ):
            self.mask_after_category = False
        if i < self.window:  # no complete feature window yet: keep indexes aligned, learn nothing
            art.train(features, learning=False)
            category = -1
        else:
            category = art.train(features)
        self.steps_without_new_category = (
            0 if category == -1 else self.steps_without_new_category + 1
        )
        match = art.matches[i - 1]
        self.match_sum += match
        self.match_count += 1
        self.match_window = np.append(self.match_window[1:], match)
        self.gap_window = np.append(self.gap_window[1:], art.rho_ub - match)
        if since < self.mask and self.anomaly_matches and match < self.anomaly_matches[-1]:
            self.anomaly_matches[-1] = match
        masking = self.mask_after_category or masked_after_anomaly
        below_last = match < self.last_anomaly_match * (0.90 if masked_after_anomaly else 0.70)
        score = 0.0
        if i > self.trend and category == -1 and (not masking or below_last):
            score = self._confidence(match, art.level_matches[i - 1])
            self.anomaly_matches.append(match)
            self.last_anomaly_match = match
            self.last_anomaly_i = i
        self.mask_after_category = category == -1 or self.mask_after_category
        if i > self.trend and (update_after_anomaly or update_for_trend):
            self._adapt_vigilance(i)
        return score

    def _adapt_vigilance(self, i: int) -> None:
        art = self.art
        lowest = float(self.match_window.min())
        new_ub = min(0.97, self.match_sum / self.match_count)
        previous_lb = art.rho_lb
        if previous_lb <= lowest:
            new_lb = previous_lb + (lowest - previous_lb) * 0.19
        else:
            decrease = 0.0
            if i > self.trend * 2:
                gaps = self.gap_window[self.gap_window > 0.05]
                if gaps.size:
                    decrease = float(np.minimum(0.37, gaps).mean())
            decrease = max(0.01, decrease)
            new_lb = previous_lb - decrease / 2
            if self.anomaly_matches:
                new_lb = max(float(np.mean(self.anomaly_matches)), new_lb)
        art.rho_lb = min(new_ub, new_lb)
        art.rho_ub = new_ub
        self.last_rho_update_i = i
        self.mask_after_category = True

    def _confidence(self, match: float, level_match: float) -> float:
        match = min(0.999, match)
        upper = ((1 - match) - (1 - self.art.rho_ub)) / (1 - match)
        lower = ((1 - match) - (1 - self.art.rho_lb)) / (1 - match)
        score = upper * 0.35 + lower * 0.65 + (1.0 - level_match) * 1.5
        return round(min(1.0, score), 6)


def _unit(x: np.ndarray) -> np.ndarray:
    """Shift to a minimum of 0 and scale to a maximum of 1 (unchanged scale if flat)."""
    y = x - x.min()
    top = y.max()
    return y / top if top != 0 else y
