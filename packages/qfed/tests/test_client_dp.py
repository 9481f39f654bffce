"""Tests for client-level DP (DP-FedAvg): clipping, noise, accounting, checkpoints, errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qfed.client_dp import ClientLevelDP, update_norm
from qfed.errors import BudgetExhausted, DataError, InvalidConfig

TOL = 1e-9
TOL_STOCHASTIC = 0.03


def _dp(**overrides: object) -> ClientLevelDP:
    kwargs: dict[str, object] = {
        "clip_norm": 1.0,
        "noise_multiplier": 1.0,
        "clients_per_round": 10,
        "total_clients": 100,
        "delta": 1e-5,
    }
    kwargs.update(overrides)
    return ClientLevelDP(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-6, 1e6),
    clip=st.floats(1e-3, 1e3),
    shapes=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=4),
)
def test_clip_bounds_joint_norm_and_keeps_direction(seed, scale, clip, shapes) -> None:
    rng = np.random.default_rng(seed)
    update = {f"t{i}": rng.normal(size=s) * scale for i, s in enumerate(shapes)}
    clipped, norm = _dp(clip_norm=clip).clip(update)
    assert norm == pytest.approx(update_norm(update), rel=TOL)
    assert update_norm(clipped) <= clip * (1 + TOL)
    factor = min(1.0, clip / norm)
    for key, value in update.items():
        np.testing.assert_allclose(clipped[key], value * factor, rtol=1e-12, atol=0)


def test_clip_rejects_non_finite_update() -> None:
    with pytest.raises(DataError, match="non-finite"):
        _dp().clip({"w": np.array([1.0, np.nan])})


def test_aggregate_without_noise_is_global_plus_clipped_sum_over_k() -> None:
    dp = _dp(noise_multiplier=0.0, clients_per_round=4, clip_norm=1.0)
    glob = {"a": np.zeros(2, dtype=np.float32), "b": np.ones((1, 2), dtype=np.float32)}
    clients = [
        {"a": np.array([3.0, 4.0]), "b": np.ones((1, 2))},  # delta norm 5 -> scaled by 1/5
        {"a": np.array([0.1, 0.0]), "b": np.ones((1, 2))},  # delta norm 0.1 -> unchanged
    ]
    out = dp.aggregate(glob, clients, rng=0)
    # fixed denominator K=4 even though only 2 clients reported
    np.testing.assert_allclose(out["a"], np.array([0.6 + 0.1, 0.8 + 0.0]) / 4, rtol=1e-6)
    np.testing.assert_allclose(out["b"], np.ones((1, 2)), rtol=1e-6)
    assert out["a"].dtype == np.float32
    assert dp.rounds == 1
    assert dp.epsilon == float("inf")  # no noise, no privacy


def test_noise_std_matches_z_c_over_k() -> None:
    z, c, k = 1.3, 0.7, 5
    dp = _dp(noise_multiplier=z, clip_norm=c, clients_per_round=k)
    glob = {"w": np.zeros(200_000), "v": np.zeros((10, 10))}
    # clients send back the global model: zero deltas, so the output is pure noise
    out = dp.aggregate(glob, [dict(glob) for _ in range(k)], rng=np.random.default_rng(1))
    noise = np.concatenate([out["w"], out["v"].ravel()])
    assert dp.noise_std == pytest.approx(z * c / k)
    assert noise.std() == pytest.approx(z * c / k, rel=TOL_STOCHASTIC)
    assert abs(noise.mean()) < 5 * z * c / k / np.sqrt(noise.size)


def test_epsilon_grows_with_rounds() -> None:
    dp = _dp()
    glob = {"w": np.zeros(3)}
    eps = [dp.epsilon]
    for r in range(4):
        dp.aggregate(glob, [glob] * 10, rng=r)
        eps.append(dp.epsilon)
    assert eps[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(eps))
    assert dp.rounds == 4
    assert dp.epsilon_after(10) > dp.epsilon


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_target_epsilon_calibration_lands_just_below(accountant: str) -> None:
    dp = ClientLevelDP.for_target_epsilon(
        target_epsilon=3.0,
        delta=1e-5,
        rounds=50,
        clients_per_round=10,
        total_clients=1000,
        clip_norm=1.0,
        accountant=accountant,
    )
    eps = dp.epsilon_after(50)
    assert 0.99 * 3.0 <= eps <= 3.0
    assert dp.max_rounds == 50
    assert dp.target_epsilon == 3.0


def test_planned_budget_is_enforced() -> None:
    dp = ClientLevelDP.for_target_epsilon(2.0, 1e-5, 3, 10, 100, 1.0)
    glob = {"w": np.zeros(2)}
    for r in range(3):
        assert not dp.would_exceed()
        dp.aggregate(glob, [glob] * 10, rng=r)
    assert dp.would_exceed()
    assert dp.epsilon <= 2.0
    with pytest.raises(BudgetExhausted, match="target_epsilon"):
        dp.aggregate(glob, [glob] * 10, rng=4)
    assert dp.rounds == 3  # the refused round was not accounted
    # an explicit target: one more round would exceed the current epsilon, not a big budget
    assert dp.would_exceed(dp.epsilon)
    assert not dp.would_exceed(100.0)


def test_amplification_off_gives_larger_epsilon() -> None:
    amp = _dp(total_clients=1000)
    none = _dp(total_clients=1000, amplification=False)
    assert amp.sample_rate == pytest.approx(0.01)
    assert none.sample_rate == 1.0
    assert none.epsilon_after(20) > 5 * amp.epsilon_after(20)
    # and the calibrated noise is larger without amplification
    z_amp = ClientLevelDP.for_target_epsilon(4.0, 1e-5, 20, 10, 1000, 1.0).noise_multiplier
    z_none = ClientLevelDP.for_target_epsilon(
        4.0, 1e-5, 20, 10, 1000, 1.0, amplification=False
    ).noise_multiplier
    assert z_none > z_amp


def test_state_round_trips_through_json() -> None:
    dp = ClientLevelDP.for_target_epsilon(5.0, 1e-5, 10, 10, 100, 0.5)
    glob = {"w": np.zeros(4)}
    for r in range(3):
        dp.aggregate(glob, [glob] * 10, rng=r)
    state = json.loads(json.dumps(dp.state_dict()))
    back = ClientLevelDP.from_state_dict(state)
    assert back.state_dict() == dp.state_dict()
    assert back.rounds == 3
    assert back.epsilon == pytest.approx(dp.epsilon, rel=TOL)
    back.aggregate(glob, [glob] * 10, rng=9)
    dp.aggregate(glob, [glob] * 10, rng=9)
    assert back.epsilon == pytest.approx(dp.epsilon, rel=TOL)


def test_from_state_dict_rejects_foreign_state() -> None:
    with pytest.raises(InvalidConfig, match="version"):
        ClientLevelDP.from_state_dict({"clip_norm": 1.0})
    state = _dp().state_dict()
    del state["delta"]
    with pytest.raises(InvalidConfig, match="state_dict"):
        ClientLevelDP.from_state_dict(state)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"clip_norm": -1.0}, "clip_norm"),
        ({"clip_norm": 0.0}, "clip_norm"),
        ({"clip_norm": float("nan")}, "clip_norm"),
        ({"noise_multiplier": -0.1}, "noise_multiplier"),
        ({"clients_per_round": 101}, "clients_per_round"),
        ({"clients_per_round": 0}, "clients_per_round"),
        ({"total_clients": 2.5}, "total_clients"),
        ({"delta": 1.0}, "delta"),
        ({"delta": 0.0}, "delta"),
        ({"accountant": "gdp"}, "accountant"),
        ({"target_epsilon": -1.0}, "target_epsilon"),
        ({"max_rounds": 0}, "max_rounds"),
    ],
)
def test_bad_settings_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidConfig, match=field):
        _dp(**overrides)


def test_bad_calibration_names_the_field() -> None:
    with pytest.raises(InvalidConfig, match="rounds"):
        ClientLevelDP.for_target_epsilon(1.0, 1e-5, 0, 10, 100, 1.0)
    with pytest.raises(InvalidConfig, match="target_epsilon"):
        ClientLevelDP.for_target_epsilon(0.0, 1e-5, 10, 10, 100, 1.0)


def test_mismatched_updates_name_the_field() -> None:
    dp = _dp()
    glob = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    with pytest.raises(InvalidConfig, match=r"client_params_list\[1\] keys.*missing \['b'\]"):
        dp.aggregate(glob, [glob, {"a": np.zeros(3)}])
    with pytest.raises(InvalidConfig, match=r"client_params_list\[0\]\['b'\] has shape"):
        dp.aggregate(glob, [{"a": np.zeros(3), "b": np.zeros(4)}])
    assert dp.rounds == 0  # refused rounds spend no budget


def test_an_empty_round_releases_noise_and_is_accounted() -> None:
    # nobody sampled (Poisson) or nobody replied: the model still moves by the noise, and
    # the round counts, as the sampled Gaussian mechanism assumes
    dp = _dp()
    glob = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    out = dp.aggregate(glob, [])
    assert dp.rounds == 1
    assert all(np.all(out[k] != 0) for k in glob)


def test_default_noise_is_not_reproducible_and_a_seed_is() -> None:
    glob = {"a": np.zeros(50)}
    clients = [{"a": np.full(50, 0.01)}]
    first = _dp().aggregate(glob, clients)["a"]
    second = _dp().aggregate(glob, clients)["a"]
    assert not np.allclose(first, second)  # CSPRNG: two identical calls differ
    seeded = [_dp().aggregate(glob, clients, rng=5)["a"] for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])  # test mode: the same noise
