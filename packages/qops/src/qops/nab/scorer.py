"""The NAB scorer, from the benchmark's definition (Lavin & Ahmad 2015; numenta/NAB ``sweeper.py``).

- Each labelled anomaly has a window of rows. The first 15% of every file (at most 750 rows)
  is a probationary period: not scored.
- A detection is a row whose anomaly score is at or above the threshold. In a window, only
  the earliest detection counts, weighted by the scaled sigmoid of its position, from
  ``tpWeight`` at the window's left edge down to 0 at its right edge; a window without a
  detection costs ``fnWeight``. Every detection outside a window costs ``fpWeight`` times the
  sigmoid of its distance past the previous window (``-1`` before the first window), so a
  detection just after a window costs little and one far from any costs the full weight.
- The threshold is optimised per profile over the whole corpus (every distinct score is a
  candidate; ties go to the higher threshold), and the raw score is normalised to 0 for the
  Null detector (no detections) and 100 for the Perfect one (every window at its left edge).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qops.errors import InvalidConfig, InvalidSeries
from qops.nab.corpus import NabCorpus

__all__ = [
    "PROFILES",
    "CategoryBreakdown",
    "CostProfile",
    "ProfileScore",
    "category_breakdown",
    "probationary_length",
    "scaled_sigmoid",
    "score_corpus",
    "sweep_scores",
]


@dataclass(frozen=True)
class CostProfile:
    tp: float
    fp: float
    fn: float


# numenta/NAB config/profiles.json (tnWeight is unused by the scorer)
PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostProfile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostProfile(tp=1.0, fp=0.11, fn=2.0),
}


@dataclass(frozen=True)
class ProfileScore:
    """One profile's result: the optimised threshold, raw and normalised scores, counts."""

    profile: str
    threshold: float
    score: float  # normalised: Null 0, Perfect 100
    raw: float
    null_raw: float
    perfect_raw: float
    true_positives: int  # detected rows inside windows
    false_positives: int  # detected rows outside windows
    windows_detected: int
    windows: int


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's ``2*sigmoid(-5x) - 1``, and -1 beyond ``x > 3``."""
    x = np.asarray(position, dtype=float)
    value = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x > 3.0, -1.0, value)


def probationary_length(rows: int, probationary_percent: float = 0.15) -> int:
    """Rows at the start of a file that are not scored: ``min(floor(p*n), p*5000)``."""
    return int(min(math.floor(probationary_percent * rows), probationary_percent * 5000))


def sweep_scores(
    rows: int,
    windows: list[tuple[int, int]],
    profile: CostProfile,
    probationary_percent: float = 0.15,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the weighted score a detection there would get, the index of the window it is
    in (-1 outside), and whether it is scored (False in the probationary period)."""
    index = np.arange(rows)
    window_id = np.full(rows, -1, dtype=np.int64)
    sweep = np.empty(rows, dtype=float)
    max_tp = float(scaled_sigmoid(-1.0))
    prev_right = np.full(rows, -1, dtype=np.int64)
    prev_width = np.zeros(rows, dtype=float)
    for k, (left, right) in enumerate(windows):
        width = float(right - left + 1)
        inside = slice(left, right + 1)
        window_id[inside] = k
        position = -(right - index[inside] + 1) / width
        sweep[inside] = scaled_sigmoid(position) * profile.tp / max_tp
        prev_right[right + 1 :] = right
        prev_width[right + 1 :] = width
    outside = window_id < 0
    unweighted = np.full(rows, -1.0)
    after = outside & (prev_right >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.abs(prev_right[after] - index[after]) / (prev_width[after] - 1.0)
    unweighted[after] = scaled_sigmoid(np.nan_to_num(distance, nan=np.inf, posinf=np.inf))
    sweep[outside] = unweighted[outside] * profile.fp
    scored = index >= probationary_length(rows, probationary_percent)
    return sweep, window_id, scored


def _optimise(
    scores: np.ndarray, sweep: np.ndarray, window_id: np.ndarray, n_windows: int, fn_weight: float
) -> tuple[float, float, int, int, int]:
    """Best (threshold, raw score, tp rows, fp rows, windows detected) over every threshold."""
    order = np.argsort(-scores, kind="stable")
    s, sw, w = scores[order], sweep[order], window_id[order]
    increments = np.where(w < 0, sw, 0.0)
    first_hit = np.zeros(s.size, dtype=np.int64)
    in_window = np.flatnonzero(w >= 0)
    if in_window.size:
        # per window, how much its best detection so far improves as the threshold falls
        by_window = in_window[np.lexsort((in_window, w[in_window]))]
        groups = np.split(by_window, np.flatnonzero(np.diff(w[by_window])) + 1)
        for positions in groups:
            best = np.maximum.accumulate(np.concatenate(([-fn_weight], sw[positions])))
            increments[positions] += np.diff(best)
            first_hit[positions[0]] = 1
    base = -fn_weight * n_windows
    totals = base + np.cumsum(increments)
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    candidates = np.concatenate(([base], totals[ends]))
    best = int(np.argmax(candidates))
    if best == 0:
        return 1.1, float(base), 0, 0, 0
    end = ends[best - 1]
    detected = w[: end + 1]
    return (
        float(s[end]),
        float(candidates[best]),
        int(np.count_nonzero(detected >= 0)),
        int(np.count_nonzero(detected < 0)),
        int(first_hit[: end + 1].sum()),
    )


def _corpus_arrays(
    corpus: NabCorpus,
    scores: Mapping[str, np.ndarray],
    profile: CostProfile,
    probationary_percent: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    all_scores, all_sweep, all_ids = [], [], []
    offset = 0
    for rel, series in corpus.series.items():
        if rel not in scores:
            raise InvalidSeries(f"scores: no anomaly scores for data file {rel!r}.")
        values = np.asarray(scores[rel], dtype=float)
        if values.shape != series.values.shape:
            raise InvalidSeries(
                f"scores[{rel!r}]: {values.size} scores for {series.values.size} rows."
            )
        if not np.all(np.isfinite(values)):
            raise InvalidSeries(f"scores[{rel!r}]: non-finite anomaly score.")
        sweep, window_id, scored = sweep_scores(
            series.values.size, corpus.windows[rel], profile, probationary_percent
        )
        ids = np.where(window_id >= 0, window_id + offset, -1)
        offset += len(corpus.windows[rel])
        all_scores.append(values[scored])
        all_sweep.append(sweep[scored])
        all_ids.append(ids[scored])
    ids = np.concatenate(all_ids)
    # a window entirely inside the probationary period is not scored at all (as in NAB)
    kept = np.unique(ids[ids >= 0])
    remap = np.full(offset + 1, -1, dtype=np.int64)
    remap[kept] = np.arange(kept.size)
    ids = np.where(ids >= 0, remap[ids], -1)
    return np.concatenate(all_scores), np.concatenate(all_sweep), ids, int(kept.size)


def score_corpus(
    corpus: NabCorpus,
    scores: Mapping[str, np.ndarray],
    profiles: Mapping[str, CostProfile] | None = None,
    probationary_percent: float = 0.15,
) -> dict[str, ProfileScore]:
    """NAB scores of one detector's anomaly scores (one array per data file) on ``corpus``."""
    if not 0.0 <= probationary_percent < 1.0:
        raise InvalidConfig(
            f"probationary_percent: must be in [0, 1), got {probationary_percent!r}."
        )
    chosen = PROFILES if profiles is None else profiles
    results: dict[str, ProfileScore] = {}
    for name, profile in chosen.items():
        s, sweep, ids, n_windows = _corpus_arrays(corpus, scores, profile, probationary_percent)
        threshold, raw, tp, fp, hit = _optimise(s, sweep, ids, n_windows, profile.fn)
        # the Null detector: one constant score everywhere, at its own best threshold
        _, null_raw, *_ = _optimise(np.full(s.size, 0.5), sweep, ids, n_windows, profile.fn)
        perfect = corpus.window_count * profile.tp
        if perfect == null_raw:
            raise InvalidSeries("corpus: no anomaly windows to score against.")
        normalised = 100.0 * (raw - null_raw) / (perfect - null_raw)
        results[name] = ProfileScore(
            name, threshold, normalised, raw, null_raw, perfect, tp, fp, hit, n_windows
        )
    return results


@dataclass(frozen=True)
class CategoryBreakdown:
    category: str
    windows_detected: int
    windows: int
    false_positives: int  # detected rows outside windows
    false_positive_cost: float  # their summed (negative) contribution to the raw score


def category_breakdown(
    corpus: NabCorpus,
    scores: Mapping[str, np.ndarray],
    threshold: float,
    profile: CostProfile = PROFILES["standard"],
    probationary_percent: float = 0.15,
) -> list[CategoryBreakdown]:
    """Where a detector wins and loses at ``threshold``: windows hit and false positives
    (rows and cost) per NAB category, probationary rows left out as in the score."""
    totals: dict[str, list[float]] = {}
    for rel, series in corpus.series.items():
        sweep, window_id, scored = sweep_scores(
            series.values.size, corpus.windows[rel], profile, probationary_percent
        )
        detected = (np.asarray(scores[rel], dtype=float) >= threshold) & scored
        outside = detected & (window_id < 0)
        row = totals.setdefault(series.category, [0, 0, 0, 0.0])
        row[0] += len(set(window_id[detected & (window_id >= 0)].tolist()))
        row[1] += len(corpus.windows[rel])
        row[2] += int(outside.sum())
        row[3] += float(sweep[outside].sum())
    return [
        CategoryBreakdown(name, int(r[0]), int(r[1]), int(r[2]), float(r[3]))
        for name, r in sorted(totals.items())
    ]
