"""The NAB scorer: hand-computed cases, a literal port of NAB's sweeper on real files, and the
published Windowed Gaussian scores on the full corpus (when ../shared/data/nab is there)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from qops.errors import InvalidConfig, InvalidSeries
from qops.nab.corpus import NabCorpus, NabSeries, find_nab_root, load_corpus, read_results
from qops.nab.scorer import (
    PROFILES,
    probationary_length,
    scaled_sigmoid,
    score_corpus,
)

FIXTURE = Path(__file__).parent / "data" / "nab"
TOL = 1e-9


def synthetic(rows: int, windows: list[tuple[int, int]]) -> NabCorpus:
    stamps = np.datetime64("2020-01-01T00:00:00") + np.arange(rows) * np.timedelta64(300, "s")
    series = NabSeries("cat/file.csv", stamps, np.zeros(rows))
    return NabCorpus({"cat/file.csv": series}, {"cat/file.csv": windows})


def detections(rows: int, at: list[int]) -> dict[str, np.ndarray]:
    scores = np.zeros(rows)
    scores[at] = 1.0
    return {"cat/file.csv": scores}


# --- the definition, by hand -------------------------------------------------------------


def test_scaled_sigmoid_matches_nab_anchors() -> None:
    assert float(scaled_sigmoid(-1.0)) == pytest.approx(0.98661, abs=1e-5)
    assert float(scaled_sigmoid(-0.5)) == pytest.approx(0.84828, abs=1e-5)
    assert float(scaled_sigmoid(0.0)) == pytest.approx(0.0, abs=TOL)
    assert float(scaled_sigmoid(1.0)) == pytest.approx(-0.98661, abs=1e-5)
    assert float(scaled_sigmoid(3.5)) == -1.0


def test_probationary_period_is_15_percent_capped_at_750() -> None:
    assert probationary_length(20) == 3
    assert probationary_length(4032) == 604
    assert probationary_length(22695) == 750


def test_detection_at_the_left_edge_is_perfect_and_none_is_null() -> None:
    corpus = synthetic(100, [(40, 49)])
    perfect = score_corpus(corpus, detections(100, [40]))
    assert all(s.score == pytest.approx(100.0, abs=TOL) for s in perfect.values())
    nothing = score_corpus(corpus, {"cat/file.csv": np.zeros(100)})
    assert all(s.score == pytest.approx(0.0, abs=TOL) for s in nothing.values())


def test_late_detection_earns_the_sigmoid_of_its_position() -> None:
    corpus = synthetic(100, [(40, 49)])  # width 10
    result = score_corpus(corpus, detections(100, [49]))["standard"]
    tp = (2 / (1 + math.exp(-5 * (1 / 10))) - 1) / (2 / (1 + math.exp(-5)) - 1)
    assert result.raw == pytest.approx(tp, abs=TOL)
    assert result.score == pytest.approx(100 * (tp + 1) / 2, abs=TOL)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    corpus = synthetic(100, [(40, 49)])
    once = score_corpus(corpus, detections(100, [41]))["standard"]
    many = score_corpus(corpus, detections(100, [41, 44, 48]))["standard"]
    assert many.raw == pytest.approx(once.raw, abs=TOL)
    assert many.true_positives == 3 and many.windows_detected == 1


def test_false_positive_costs_depend_on_distance_past_the_window() -> None:
    corpus = synthetic(200, [(40, 49)])
    # a detection before any window costs the full fp weight; the tp keeps it above null
    early = score_corpus(corpus, detections(200, [40, 35]))
    assert early["standard"].raw == pytest.approx(1.0 - 0.11, abs=TOL)
    assert early["reward_low_FP_rate"].raw == pytest.approx(1.0 - 0.22, abs=TOL)
    # just after the window: |49 - 51| / (10 - 1) past it
    after = score_corpus(corpus, detections(200, [40, 51]))["standard"]
    cost = (2 / (1 + math.exp(5 * (2 / 9))) - 1) * 0.11  # negative: a small penalty
    assert after.raw == pytest.approx(1.0 + cost, abs=TOL)
    assert after.false_positives == 1


def test_probationary_rows_are_not_scored() -> None:
    corpus = synthetic(100, [(40, 49)])
    # row 5 is in the probationary period (15 rows): a detection there costs nothing
    result = score_corpus(corpus, detections(100, [5, 40]))["standard"]
    assert result.score == pytest.approx(100.0, abs=TOL)


def test_low_fn_profile_doubles_the_cost_of_a_miss() -> None:
    corpus = synthetic(100, [(40, 49)])
    result = score_corpus(corpus, {"cat/file.csv": np.zeros(100)})["reward_low_FN_rate"]
    assert result.null_raw == pytest.approx(-2.0, abs=TOL)


def test_threshold_is_optimised_and_ties_go_to_the_higher_threshold() -> None:
    corpus = synthetic(200, [(40, 49)])
    scores = np.zeros(200)
    scores[40] = 0.9  # the true positive
    scores[100:150] = 0.5  # fifty false positives: a threshold of 0.5 would be much worse
    result = score_corpus(corpus, {"cat/file.csv": scores})["standard"]
    assert result.threshold == pytest.approx(0.9)
    assert result.score == pytest.approx(100.0, abs=TOL)


def test_bad_scores_are_named() -> None:
    corpus = synthetic(10, [(5, 6)])
    with pytest.raises(InvalidSeries, match=r"cat/file\.csv"):
        score_corpus(corpus, {"cat/file.csv": np.zeros(9)})
    with pytest.raises(InvalidSeries, match="non-finite"):
        score_corpus(corpus, {"cat/file.csv": np.full(10, np.nan)})
    with pytest.raises(InvalidSeries, match="no anomaly scores"):
        score_corpus(corpus, {})
    with pytest.raises(InvalidConfig, match="probationary_percent"):
        score_corpus(corpus, {"cat/file.csv": np.zeros(10)}, probationary_percent=1.5)


# --- a literal port of numenta/NAB nab/sweeper.py, the reference on real files -------------


def nab_reference_total(corpus: NabCorpus, scores: dict[str, np.ndarray], cost: dict) -> float:
    """NAB's calcSweepScore + calcScoreByThreshold + optimizer, loop for loop."""

    def sig(x: float) -> float:
        return -1.0 if x > 3.0 else 2 * (1 / (1 + math.exp(5 * x))) - 1.0

    rows = []
    for rel, series in corpus.series.items():
        stamps = list(series.timestamps)
        limits = [(stamps[a], stamps[b]) for a, b in corpus.windows[rel]]
        n = len(stamps)
        prob = min(math.floor(0.15 * n), 0.15 * 5000)
        max_tp = sig(-1.0)
        cur = name = width = right = prev_width = prev_right = None
        for i, (t, a) in enumerate(zip(stamps, scores[rel], strict=True)):
            if limits and t == limits[0][0]:
                cur = limits.pop(0)
                name = f"{rel}|{cur[0]}"
                right = stamps.index(cur[1])
                width = float(right - stamps.index(cur[0]) + 1)
            if cur is not None:
                weighted = sig(-(right - i + 1) / width) * cost["tp"] / max_tp
            else:
                unweighted = (
                    -1.0 if prev_right is None else sig(abs(prev_right - i) / float(prev_width - 1))
                )
                weighted = unweighted * cost["fp"]
            rows.append((a, weighted, name if i >= prob else "probationary"))
            if cur is not None and t == cur[1]:
                prev_right, prev_width = i, width
                cur = name = width = right = None
    scorable = sorted([r for r in rows if r[2] != "probationary"], key=lambda r: r[0], reverse=True)
    parts = {"fp": 0.0}
    for r in scorable:
        if r[2] is not None:
            parts[r[2]] = -cost["fn"]
    best, threshold = sum(parts.values()), 1.1
    for a, weighted, name in scorable:
        if a != threshold:
            best = max(best, sum(parts.values()))
            threshold = a
        if name is None:
            parts["fp"] += weighted
        else:
            parts[name] = max(parts[name], weighted)
    return max(best, sum(parts.values()))


def test_vectorised_scorer_equals_nab_sweeper_on_real_files() -> None:
    corpus = load_corpus(FIXTURE)
    scores = read_results(FIXTURE / "results" / "windowedGaussian", corpus)
    rng = np.random.default_rng(7)
    noisy = {rel: np.clip(s + rng.normal(0, 0.05, s.size), 0, 1) for rel, s in scores.items()}
    for candidate in (scores, noisy):
        ours = score_corpus(corpus, candidate)
        for name, profile in PROFILES.items():
            expected = nab_reference_total(
                corpus, candidate, {"tp": profile.tp, "fp": profile.fp, "fn": profile.fn}
            )
            assert ours[name].raw == pytest.approx(expected, abs=1e-9), name


# --- the published scores ------------------------------------------------------------------

SHARED = find_nab_root()


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "results" / "windowedGaussian").is_dir(),
    reason="the full NAB corpus (../shared/data/nab with results/windowedGaussian) is not here; "
    "set QOPS_NAB_ROOT to run this check",
)
def test_reproduces_published_windowed_gaussian_scores() -> None:
    assert SHARED is not None
    corpus = load_corpus(SHARED)
    assert len(corpus.series) == 58 and corpus.window_count == 116
    result = score_corpus(corpus, read_results(SHARED / "results" / "windowedGaussian", corpus))
    assert result["standard"].score == pytest.approx(39.6, abs=0.1)
    assert result["reward_low_FP_rate"].score == pytest.approx(20.9, abs=0.1)
    assert result["reward_low_FN_rate"].score == pytest.approx(47.4, abs=0.1)


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "config" / "profiles.json").is_file(),
    reason="../shared/data/nab/config/profiles.json is not here",
)
def test_profiles_equal_nabs_config() -> None:
    assert SHARED is not None
    config = json.loads((SHARED / "config" / "profiles.json").read_text())
    for name, profile in PROFILES.items():
        matrix = config[name]["CostMatrix"]
        assert (profile.tp, profile.fp, profile.fn) == (
            matrix["tpWeight"],
            matrix["fpWeight"],
            matrix["fnWeight"],
        )
