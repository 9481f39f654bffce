"""The adaptive-resonance detector: its Haar transform, its behaviour on planted events, its
settings, and (with the full NAB corpus beside the checkout) ARTime's published scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qops.detectors import AdaptiveResonanceDetector, SeriesContext, haar_dwt, make_detector
from qops.errors import InvalidConfig
from qops.nab.corpus import find_nab_root, load_corpus
from qops.nab.scorer import score_corpus


def test_haar_dwt_layout_and_orthonormality() -> None:
    x = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 1.0, 0.0, 4.0])
    y = haar_dwt(x)
    r = math.sqrt(0.5)
    # finest details (later - earlier) / sqrt(2) sit at the end, as in Wavelets.jl
    assert y[4:] == pytest.approx([2 * r, 0.0, -4 * r, 4 * r])
    # the coarsest scaling coefficient is the sum / sqrt(8)
    assert y[0] == pytest.approx(x.sum() / math.sqrt(8))
    # orthonormal: energy is kept
    assert float(y @ y) == pytest.approx(float(x @ x))
    rng = np.random.default_rng(0)
    basis = np.array([haar_dwt(row) for row in np.eye(8)])
    assert basis @ basis.T == pytest.approx(np.eye(8))
    z = rng.normal(size=8)
    assert haar_dwt(z) == pytest.approx(basis.T @ z)


def periodic_with_event(n: int = 3000, at: int = 2200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 50 + 10 * np.sin(2 * np.pi * t / 100) + rng.normal(0, 0.5, n)
    values[at : at + 20] += 35.0  # a level shift for 20 points
    return values


@pytest.mark.parametrize("name", ["adaptive_resonance", "gated_resonance"])
def test_the_event_raises_the_highest_alarm_after_probation(name: str) -> None:
    values = periodic_with_event()
    detector = make_detector(name, SeriesContext.of(values))
    scores = detector.score_series(values)
    probation = SeriesContext.of(values).probationary
    assert np.all(scores[:probation] == 0)  # nothing is said during the learning period
    assert scores[2200:2230].max() > 0
    assert scores[2200:2230].max() == scores[probation:].max()


def test_a_repeating_series_raises_no_alarm_after_learning() -> None:
    t = np.arange(4000)
    values = 20 + 5 * np.sign(np.sin(2 * np.pi * t / 40))
    scores = make_detector("adaptive_resonance", SeriesContext.of(values)).score_series(values)
    assert np.count_nonzero(scores[1500:]) == 0


def test_the_magnitude_gate_lowers_alarms_on_blocks_near_the_usual_level() -> None:
    values = periodic_with_event()
    context = SeriesContext.of(values)
    plain = AdaptiveResonanceDetector(context).score_series(values)
    gated = AdaptiveResonanceDetector(context, magnitude_gate=3.0).score_series(values)
    assert np.all(gated <= plain + 1e-12)
    assert np.array_equal(np.flatnonzero(gated), np.flatnonzero(plain))
    event = slice(2200, 2230)
    # the event is about 5 standard deviations away: its alarm keeps most of its score
    assert gated[event].max() >= 0.5 * plain[event].max()


def test_magnitude_factor_is_small_near_the_median_and_large_far_from_it() -> None:
    rng = np.random.default_rng(2)
    reference = list(rng.normal(10.0, 1.0, 600))

    def factor(block: list[float]) -> float:
        detector = AdaptiveResonanceDetector(SeriesContext(0.0, 100.0, 4000), magnitude_gate=3.0)
        detector.history.extend(reference + block)
        return detector._magnitude_factor()

    step = AdaptiveResonanceDetector(SeriesContext(0.0, 100.0, 4000)).step
    near, far = factor([10.2] * step), factor([40.0] * step)
    assert near < 0.1 < 0.85 < far


@pytest.mark.parametrize("gate", [0, -1.0, float("nan")])
def test_bad_gate_is_refused(gate: float) -> None:
    with pytest.raises(InvalidConfig, match="magnitude_gate"):
        AdaptiveResonanceDetector(SeriesContext(0, 1, 100), magnitude_gate=gate)


def test_short_and_flat_series_do_not_break_it() -> None:
    for values in (np.ones(5), np.ones(60), np.arange(40, dtype=float)):
        scores = make_detector("gated_resonance", SeriesContext.of(values)).score_series(values)
        assert np.all((scores >= 0) & (scores <= 1))


SHARED = find_nab_root()


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "config" / "thresholds.json").is_file(),
    reason="the full NAB corpus (../shared/data/nab) is not here",
)
def test_reproduces_artimes_published_nab_scores() -> None:
    assert SHARED is not None
    corpus = load_corpus(SHARED)
    scores = {}
    for rel, series in corpus.series.items():
        detector = make_detector("adaptive_resonance", SeriesContext.of(series.values))
        scores[rel] = detector.score_series(series.values)
    result = score_corpus(corpus, scores)
    published = json.loads((SHARED / "config" / "thresholds.json").read_text())["ARTime"]
    for profile, ours in result.items():
        # NAB's thresholds.json holds the raw score and the threshold of ARTime's own run
        assert ours.raw == pytest.approx(published[profile]["score"], abs=1e-6), profile
        assert ours.threshold == pytest.approx(published[profile]["threshold"]), profile
