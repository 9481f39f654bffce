"""The planner meets budgets and targets and beats the fixed-length baselines."""

from __future__ import annotations

import numpy as np
import pytest

import qcompress as qc

RNG = np.random.default_rng(2)
W = RNG.standard_normal((256, 256)).astype(np.float32)


@pytest.mark.parametrize("bits", [2.0, 3.0, 4.5, 6.0, 8.0])
def test_budget_is_met_and_error_is_real(bits: float) -> None:
    p = qc.plan(W, bits=bits)
    assert 8 * len(p.data) / W.size <= bits
    assert qc.error_stats(W, qc.decompress(p.data))["rel_l2"] == pytest.approx(p.rel_l2, rel=1e-6)
    assert p.rel_l2 == min(c.rel_l2 for c in p.candidates if c.bits_per_value <= bits)


def test_planner_beats_nf4_and_int8_at_their_own_size() -> None:
    nf4 = qc.decompress(data := qc.compress(W, "nf4"))
    p = qc.plan(W, bits=8 * len(data) / W.size)
    assert p.rel_l2 < 0.75 * qc.error_stats(W, nf4)["rel_l2"]
    int8 = qc.compress(W, "int8")
    p8 = qc.plan(W, bits=8 * len(int8) / W.size)
    assert p8.rel_l2 < 0.85 * qc.inspect(int8)["error"]["rel_l2"]


def test_error_target_gives_fewest_bits() -> None:
    p = qc.plan(W, rel_l2=0.01)
    assert p.rel_l2 <= 0.01
    assert p.bits_per_value < 8.0
    assert qc.plan(W, rel_l2=0.0).method in ("raw", "shuffle-zstd")


def test_auto_method_and_bad_requests() -> None:
    data = qc.compress(W, "auto", bits=4.0)
    assert 8 * len(data) / W.size <= 4.0
    with pytest.raises(qc.InvalidSettings, match="bits"):
        qc.plan(W)
    with pytest.raises(qc.InvalidSettings, match="bits"):
        qc.plan(W, bits=0.001)
    with pytest.raises(qc.InvalidSettings, match="rel_l2"):
        qc.plan(W, rel_l2=2.0)
    with pytest.raises(qc.InvalidSettings, match="float"):
        qc.plan(np.arange(10), bits=4.0)
