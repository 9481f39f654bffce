"""Error feedback and PowerSGD: nothing is lost across steps, warm starts converge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qcompress as qc

RNG = np.random.default_rng(5)


def test_error_feedback_sends_every_coordinate_eventually() -> None:
    ef = qc.ErrorFeedback("topk", k=10)
    g = RNG.standard_normal(200).astype(np.float32)
    total = np.zeros(200)
    for _ in range(40):
        total += qc.decompress(ef.compress(g))
    # sent + residual = everything that went in, exactly (up to float32 rounding)
    assert np.allclose(total + ef.residual, 40 * g, atol=1e-3)
    # without feedback the same 10 coordinates would go every time
    assert np.count_nonzero(total) > 100


def test_error_feedback_keeps_torch_in_torch_and_checks_shapes() -> None:
    ef = qc.ErrorFeedback("threshold", threshold=0.5)
    out = qc.decompress(ef.compress(torch.randn(4, 4)))
    assert isinstance(out, torch.Tensor) and out.shape == (4, 4)
    with pytest.raises(qc.InvalidSettings, match="shape"):
        ef.compress(torch.randn(5))
    with pytest.raises(qc.InvalidSettings, match="method"):
        qc.ErrorFeedback("nf4")


def test_powersgd_warm_start_converges_on_a_fixed_low_rank_gradient() -> None:
    m = (RNG.standard_normal((64, 2)) @ RNG.standard_normal((2, 48))).astype(np.float32)
    psgd = qc.PowerSGD(rank=2, error_feedback=False, seed=0)
    errors = [qc.error_stats(m, qc.decompress(psgd.compress(m)))["rel_l2"] for _ in range(3)]
    assert errors[-1] < 1e-5
    assert qc.inspect(psgd.compress(m))["method"] == "lowrank"


def test_powersgd_error_feedback_conserves_the_sum() -> None:
    g = RNG.standard_normal((40, 30)).astype(np.float32)
    psgd = qc.PowerSGD(rank=1, seed=1)
    total = np.zeros_like(g, dtype=np.float64)
    for _ in range(20):
        total += qc.decompress(psgd.compress(g))
    assert np.allclose(total + psgd.residual, 20 * g, atol=1e-3)


def test_powersgd_vectors_go_whole() -> None:
    v = RNG.standard_normal(7).astype(np.float32)
    assert np.array_equal(qc.decompress(qc.PowerSGD().compress(v)), v)


def test_powersgd_group_matches_the_mean_on_rank_one_gradients() -> None:
    base = RNG.standard_normal((30, 1)) @ RNG.standard_normal((1, 20))
    grads = [base * s for s in (1.0, 2.0, 3.0)]
    group = qc.PowerSGDGroup(3, rank=1, seed=0)
    out = group.step(grads)
    assert np.allclose(out, base * 2.0, atol=1e-8)
    assert group.bytes_per_worker == 4 * (30 + 20)
    with pytest.raises(qc.InvalidSettings, match="grads"):
        group.step(grads[:2])
    with pytest.raises(qc.InvalidSettings, match="rank"):
        qc.PowerSGDGroup(2, rank=0)
