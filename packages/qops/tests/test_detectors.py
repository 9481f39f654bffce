"""Streaming detectors: each finds a planted anomaly, stays in [0, 1], refuses bad input;
the Isolation Forest's own tree walk equals scikit-learn's score_samples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from qops.detectors import (
    EwmaDetector,
    IsolationForestDetector,
    KnnConformalDetector,
    RobustZDetector,
    SeasonalEsdDetector,
    SeriesContext,
    StreamingIsolationForest,
    detector_names,
    estimate_period,
    make_detector,
)
from qops.errors import InvalidConfig, InvalidSeries, UnknownDetector


def series_with_spike(n: int = 1500, at: int = 1200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 10 + 3 * np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.3, n)
    values[at] += 8.0
    return values


def all_detectors(values: np.ndarray) -> list:
    context = SeriesContext.of(values)
    return [make_detector(name, context) for name in detector_names() if name != "default"]


@pytest.mark.parametrize("name", [n for n in detector_names() if n != "default"])
def test_detector_scores_the_planted_spike_among_its_highest(name: str) -> None:
    values = series_with_spike()
    detector = make_detector(name, SeriesContext.of(values))
    scores = detector.score_series(values)
    assert scores.shape == values.shape
    assert np.all((scores >= 0) & (scores <= 1))
    after_warmup = scores[600:]
    spike = scores[1200]
    # the spike is in the top 1% of what the detector said after its warm-up
    assert spike >= np.quantile(after_warmup, 0.99), (name, spike)


def test_robust_z_is_not_moved_by_one_outlier_in_its_window() -> None:
    detector = RobustZDetector(window=50)
    for v in [1.0, 2.0] * 25:
        detector.update(v)
    detector.update(1000.0)
    assert detector.zscore(1.5) == pytest.approx(0.0, abs=1.0)


def test_ewma_limits_contain_in_control_points() -> None:
    rng = np.random.default_rng(1)
    detector = EwmaDetector(alpha=0.05, limit_sigmas=3)
    for v in rng.normal(5, 1, 500):
        detector.update(v)
    low, high = detector.limits()  # type: ignore[misc]
    assert low < 5 < high and 2 < high - low < 10
    assert detector.out_of_control(20.0) and not detector.out_of_control(5.0)


def test_seasonal_period_is_found_by_autocorrelation() -> None:
    t = np.arange(1000)
    assert estimate_period(np.sin(2 * np.pi * t / 48)) == 48
    assert estimate_period(np.random.default_rng(0).normal(size=1000)) == 0


def test_seasonal_esd_learns_the_season() -> None:
    values = series_with_spike()
    detector = SeasonalEsdDetector(learn=400)
    detector.score_series(values[:500])
    assert detector.period == 50


def test_isolation_forest_walk_equals_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    forest = StreamingIsolationForest(
        dimensions=3, train_window=300, refit_every=1000, warmup=300, n_estimators=25, seed=4
    )
    data = rng.normal(size=(300, 3))
    for row in data:
        forest.update(row)
    probes = np.vstack([rng.normal(size=(20, 3)), [[6, 6, 6], [0, 0, 0]]])
    ours = np.array([forest.score_vector(p) for p in probes])
    reference = IsolationForest(n_estimators=25, max_samples=256, random_state=4).fit(data)
    np.testing.assert_allclose(ours, -reference.score_samples(probes), atol=1e-12)
    assert ours[-2] > ours[-1]  # the far point isolates faster


def test_isolation_forest_takes_metric_vectors() -> None:
    forest = StreamingIsolationForest(dimensions=2, warmup=32, seed=0)
    rng = np.random.default_rng(0)
    scores = [forest.update(v) for v in rng.normal(size=(100, 2))]
    assert scores[0] == 0.0 and 0 < scores[-1] < 1
    with pytest.raises(InvalidSeries, match="expected 2 values"):
        forest.update([1.0, 2.0, 3.0])
    with pytest.raises(InvalidSeries, match=r"vector\[1\]: non-finite"):
        forest.update([1.0, float("inf")])


def test_knn_conformal_reports_one_alarm_per_rest_period() -> None:
    values = series_with_spike()
    values[1200:1210] += 8.0  # a ten-point anomaly
    detector = KnnConformalDetector(SeriesContext.of(values), rest=100)
    scores = detector.score_series(values)
    alarms = np.flatnonzero(scores[1195:1300] >= detector.alarm_level)
    assert alarms.size == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "7", None, True])
def test_every_detector_refuses_non_finite_or_non_numeric_values(bad: object) -> None:
    for detector in all_detectors(series_with_spike()):
        with pytest.raises(InvalidSeries, match="value"):
            detector.update(bad)  # type: ignore[arg-type]


def test_out_of_order_timestamps_are_refused() -> None:
    detector = RobustZDetector()
    detector.update(1.0, timestamp=100.0)
    detector.update(1.0, timestamp=100.0)  # equal is allowed (NAB's own data repeats times)
    with pytest.raises(InvalidSeries, match=r"timestamp: 99\.0 comes before"):
        detector.update(1.0, timestamp=99.0)


def test_empty_series_and_unknown_names_are_refused() -> None:
    with pytest.raises(InvalidSeries, match="values: empty"):
        SeriesContext.of([])
    with pytest.raises(UnknownDetector, match="detector: unknown name 'htm'"):
        make_detector("htm", SeriesContext(0, 1, 10))
    assert "default" in detector_names()


def test_detector_settings_are_checked() -> None:
    with pytest.raises(InvalidConfig, match="window"):
        RobustZDetector(window=1)
    with pytest.raises(InvalidConfig, match="alpha"):
        EwmaDetector(alpha=0)
    with pytest.raises(InvalidConfig, match="alarm_level"):
        KnnConformalDetector(alarm_level=2)
    with pytest.raises(InvalidConfig, match="value_max"):
        SeriesContext(2.0, 1.0, 10)
    with pytest.raises(InvalidConfig, match="lags"):
        IsolationForestDetector(lags=0)


def test_multiscale_coarse_core_scores_once_per_block() -> None:
    from qops.detectors import MultiScaleKnnDetector

    values = series_with_spike(n=1200, at=1000)
    detector = MultiScaleKnnDetector(SeriesContext.of(values), scales=(1, 8), rest=0)
    detector.score_series(values)
    fine, coarse = detector.cores
    assert fine.seen == 0 and coarse.seen == 0  # cores are driven through raw_score only
    assert fine._stored == 1200 - fine.dim + 1
    assert coarse._stored == 1200 // 8 - coarse.dim + 1
    with pytest.raises(InvalidConfig, match="scales"):
        MultiScaleKnnDetector(scales=(1, 1))
    with pytest.raises(InvalidConfig, match="gate"):
        KnnConformalDetector(gate=-1)
    with pytest.raises(InvalidConfig, match="rule"):
        KnnConformalDetector(rule="magic")


def test_gate_silences_rank_only_alarms_on_a_clean_signal() -> None:
    t = np.arange(3000)
    values = np.sin(2 * np.pi * t / 37.3)  # never repeats exactly: ranks alone alarm 1 %
    context = SeriesContext.of(values)
    small = {"reference": 600, "calibration": 300, "rest": 0}
    plain = KnnConformalDetector(context, gate=0, **small).score_series(values)
    gated = KnnConformalDetector(context, gate=3, **small).score_series(values)
    assert np.count_nonzero(plain >= 0.99) > 10
    assert np.count_nonzero(gated >= 0.99) < np.count_nonzero(plain >= 0.99) / 5
