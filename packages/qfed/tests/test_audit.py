"""Tests for the one-run privacy audit (Steinke, Nasr, Jagielski 2023) and the DP-SGD audit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qfed.audit import (
    AuditResult,
    audit_dp_sgd,
    epsilon_lower_bound,
    one_run_audit,
    p_value,
)
from qfed.errors import InvalidConfig


@pytest.mark.parametrize("r", [10, 100, 500])
def test_pure_dp_bound_matches_closed_form(r: int) -> None:
    # delta = 0 and all r guesses right: p-value is q^r with q = e^eps / (1 + e^eps),
    # so the bound solves q^r = 0.05
    q = 0.05 ** (1.0 / r)
    expected = math.log(q / (1.0 - q))
    assert epsilon_lower_bound(r, r, 1000, 0.0, 0.95) == pytest.approx(expected, rel=1e-6)


def test_bound_is_the_level_crossing_of_the_p_value() -> None:
    eps = epsilon_lower_bound(200, 170, 1000, 1e-5, 0.95)
    assert eps > 0
    assert p_value(200, 170, 1000, eps * 0.999, 1e-5) < 0.05
    assert p_value(200, 170, 1000, eps * 1.001, 1e-5) >= 0.05


def test_bound_moves_the_right_way() -> None:
    base = epsilon_lower_bound(200, 170, 1000, 1e-5)
    assert epsilon_lower_bound(200, 180, 1000, 1e-5) > base  # more correct
    assert epsilon_lower_bound(200, 170, 1000, 1e-3) < base  # weaker null (larger delta)
    assert epsilon_lower_bound(200, 170, 1000, 1e-5, 0.99) < base  # more confidence
    assert epsilon_lower_bound(200, 100, 1000, 1e-5) == 0.0  # chance level
    assert epsilon_lower_bound(0, 0, 1000, 1e-5) == 0.0  # no guesses


def test_one_run_audit_counts_guesses() -> None:
    included = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    res = one_run_audit(scores, included, k_plus=2, k_minus=2, delta=0.0)
    assert isinstance(res, AuditResult)
    # top 2: canaries 0 (in, right) and 1 (out, wrong); bottom 2: 4 (in, wrong), 5 (out, right)
    assert (res.guesses, res.correct, res.precision) == (4, 2, 0.5)
    assert res.epsilon_lower_bound == 0.0


def test_one_run_audit_of_randomised_response_stays_below_its_epsilon() -> None:
    # eps-DP randomised response on each canary's bit: a mechanism with a known epsilon.
    # Scoring it exactly is the best possible attack, so the bound is near-tight but below.
    eps = 2.0
    rng = np.random.default_rng(7)
    m = 5000
    included = rng.random(m) < 0.5
    truthful = rng.random(m) < math.exp(eps) / (1 + math.exp(eps))
    scores = np.where(truthful, included, ~included).astype(float)
    res = one_run_audit(scores, included, k_plus=200, k_minus=200, delta=0.0)
    assert 0.5 * eps < res.epsilon_lower_bound < eps


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k_plus": 4, "k_minus": 3}, "k_plus"),
        ({"k_plus": -1, "k_minus": 0}, "k_plus"),
        ({"k_plus": 1, "k_minus": 1, "delta": 1.0}, "delta"),
        ({"k_plus": 1, "k_minus": 1, "confidence": 1.0}, "confidence"),
    ],
)
def test_one_run_audit_bad_inputs_name_the_field(kwargs: dict, field: str) -> None:
    kwargs = {"delta": 1e-5, **kwargs}
    with pytest.raises(InvalidConfig, match=field):
        one_run_audit(np.arange(6.0), np.arange(6) % 2 == 0, **kwargs)


def test_bound_inputs_are_checked() -> None:
    with pytest.raises(InvalidConfig, match="num_correct"):
        epsilon_lower_bound(10, 11, 100, 1e-5)
    with pytest.raises(InvalidConfig, match="scores"):
        one_run_audit(np.arange(3.0), np.ones(4, dtype=bool), k_plus=1, k_minus=1, delta=0)


# The DP-SGD audits use the same small run (1000 canaries, 1000 digits, 5 epochs): ~1-2 s each.
SMALL = {"num_canaries": 1000, "num_regular": 1000, "epochs": 5, "seed": 0}


def test_dp_sgd_audit_stays_below_the_accounted_epsilon() -> None:
    res = audit_dp_sgd(noise_multiplier=1.0, max_grad_norm=1.0, **SMALL)
    assert 1.0 < res.accounted_epsilon < 20.0
    assert res.audit.epsilon_lower_bound < res.accounted_epsilon
    assert res.steps > 0
    assert res.train_accuracy > 0.8  # the model still learns the regular task


@pytest.mark.parametrize("max_grad_norm", [None, 1.0])
def test_dp_sgd_audit_detects_leakage_without_noise(max_grad_norm: float | None) -> None:
    # positive control: no noise, the audit must see the canaries
    res = audit_dp_sgd(noise_multiplier=0.0, max_grad_norm=max_grad_norm, **SMALL)
    assert res.accounted_epsilon == math.inf
    assert res.audit.precision > 0.95
    assert res.audit.epsilon_lower_bound > 3.0


def test_dp_sgd_audit_rejects_noise_without_clipping() -> None:
    with pytest.raises(InvalidConfig, match="max_grad_norm"):
        audit_dp_sgd(noise_multiplier=1.0, max_grad_norm=None)
