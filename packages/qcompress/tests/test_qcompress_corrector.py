"""The residual corrector learns a predictable residual and generalises to unseen tensors."""

from __future__ import annotations

import numpy as np
import pytest

import qcompress as qc
from qcompress.corrector import ResidualCorrector


def floor_quantised(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # flooring leaves a residual of +step/2 on average: predictable from the decoded values
    x = rng.standard_normal((64, 128)).astype(np.float32)
    return np.floor(x / 0.25) * 0.25, x


def test_corrector_removes_a_predictable_bias_on_held_out_tensors() -> None:
    rng = np.random.default_rng(0)
    train = [floor_quantised(rng) for _ in range(3)]
    corrector = ResidualCorrector(window=3, hidden=8, seed=0)
    losses = corrector.fit(
        [d for d, _ in train], [o for _, o in train], epochs=40, lr=3e-2, rows_per_batch=32
    )
    assert losses[-1] < losses[0]
    decoded, original = floor_quantised(rng)
    before = qc.error_stats(original, decoded)["rel_l2"]
    after = qc.error_stats(original, corrector.correct(decoded))["rel_l2"]
    assert after < 0.8 * before


def test_corrector_settings() -> None:
    with pytest.raises(qc.InvalidSettings, match="window"):
        ResidualCorrector(window=4)
    with pytest.raises(qc.InvalidSettings, match="original"):
        ResidualCorrector().fit([np.zeros((2, 3))], [np.zeros((3, 2))])
