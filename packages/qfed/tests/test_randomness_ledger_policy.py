"""The CSPRNG source, the client ledger and the client policy: values, parsers, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qfed.errors import InvalidConfig, PolicyRefused
from qfed.ledger import ClientLedger
from qfed.policy import NODE_CONFIG_KEYS, ClientPolicy
from qfed.privacy import epsilon_of
from qfed.randomness import SecureRandom, SeededRandom, random_source


def test_secure_gaussian_has_the_right_distribution():
    draws = SecureRandom().gaussian((200_000,), 2.5)
    assert abs(draws.mean()) < 0.03
    assert draws.std() == pytest.approx(2.5, rel=0.01)
    # Kolmogorov-Smirnov against N(0, 2.5^2): a wrong transform or scale fails this
    assert stats.kstest(draws / 2.5, "norm").pvalue > 1e-4
    assert SecureRandom().gaussian((3, 4), 1.0).shape == (3, 4)
    assert np.all(SecureRandom().gaussian((5,), 0.0) == 0)


def test_secure_uniform_and_coins():
    u = SecureRandom().uniform(100_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    assert SecureRandom().bernoulli(100_000, 0.3).mean() == pytest.approx(0.3, abs=0.01)
    assert SecureRandom().uniform(0).size == 0


def test_secure_draws_never_repeat_and_seeded_ones_do():
    a, b = SecureRandom().gaussian((64,), 1.0), SecureRandom().gaussian((64,), 1.0)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(
        SeededRandom(3).gaussian((64,), 1.0), SeededRandom(3).gaussian((64,), 1.0)
    )
    assert SecureRandom.private and not SeededRandom.private
    assert isinstance(random_source(None), SecureRandom)
    assert isinstance(random_source(7), SeededRandom)
    with pytest.raises(InvalidConfig, match="seed must be"):
        random_source("7")


def test_ledger_round_trips_and_accounts_its_history(tmp_path):
    ledger = ClientLedger(
        history=[(10.0, 1.0, 1), (0.9, 0.1, 30)],
        rounds_trained=3,
        counts=[100.2, 90.0, 110.5],
        total=300.7,
        plan={"key": "k", "noise_multiplier": 0.9, "sample_rate": 0.1, "public_size": 301},
    )
    path = tmp_path / "l.json"
    ledger.save(path)
    back = ClientLedger.load(path)
    assert back == ledger
    assert back.epsilon(1e-5) == pytest.approx(epsilon_of(ledger.history, 1e-5))
    assert back.public_size == 301
    assert ClientLedger.load(tmp_path / "missing.json") == ClientLedger()
    assert math.isinf(ClientLedger(history=[(1.0, 1.0, 1)], seeded=True).epsilon(1e-5))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["version", "history", "rounds_trained", "counts", "total", "plan", "seeded", "extra"]
        ),
        json_values,
    )
)
def test_ledger_parser_gives_a_ledger_or_a_clear_error(values):
    try:
        ledger = ClientLedger.from_dict(values)
    except InvalidConfig as exc:
        assert "ledger" in str(exc)
    else:
        assert isinstance(ledger.history, list)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=64))
def test_ledger_file_of_garbage_is_refused(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("garbage") / "ledger.json"
    path.write_bytes(data)
    try:
        ledger = ClientLedger.load(path)
    except InvalidConfig as exc:
        assert "ledger" in str(exc)
    else:
        assert isinstance(ledger, ClientLedger)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(NODE_CONFIG_KEYS)),
        st.none() | st.booleans() | st.integers(-5, 100) | st.floats() | st.text(max_size=6),
    )
)
def test_node_config_parser_gives_a_policy_or_a_clear_error(values):
    try:
        policy = ClientPolicy.from_node_config(values)
    except InvalidConfig as exc:
        # one line naming the key
        assert "\n" not in str(exc) and any(k in str(exc) for k in NODE_CONFIG_KEYS)
    else:
        assert policy.max_epsilon > 0 and 0 < policy.max_delta < 1


def test_node_config_values_as_flower_gives_them():
    policy = ClientPolicy.from_node_config(
        {
            "max-epsilon": "4",
            "max-delta": 1e-6,
            "max-rounds": 0,
            "share-label-counts": "false",
            "allow-seeded-noise": False,
            "trust-server": "true",
            "count-noise": 5,
        }
    )
    assert policy == ClientPolicy(
        max_epsilon=4.0,
        max_delta=1e-6,
        max_rounds=None,
        share_label_counts=False,
        count_noise=5,
        trust_server=True,
    )
    assert ClientPolicy.from_node_config(policy.as_node_config()) == policy
    with pytest.raises(InvalidConfig, match="max-epsilon"):
        ClientPolicy.from_node_config({"max-epsilon": "lots"})
    with pytest.raises(InvalidConfig, match="share-label-counts"):
        ClientPolicy.from_node_config({"share-label-counts": "maybe"})
    with pytest.raises(InvalidConfig, match="max-rounds"):
        ClientPolicy.from_node_config({"max-rounds": -1})


def test_policy_checks_name_the_limit():
    policy = ClientPolicy(max_epsilon=2.0, max_delta=1e-6, min_noise_multiplier=1.0, max_rounds=3)
    policy.check_request(dp="sample", epsilon=2.0, delta=1e-6, seeded=False, rounds_trained=2)
    for kwargs, key in (
        ({"epsilon": 2.5}, "max-epsilon"),
        ({"delta": 1e-5}, "max-delta"),
        ({"rounds_trained": 3}, "max-rounds"),
        ({"seeded": True}, "allow-seeded-noise"),
        ({"dp": "none"}, "trust-server"),
    ):
        request = {"dp": "sample", "epsilon": 2.0, "delta": 1e-6, "seeded": False, **kwargs}
        with pytest.raises(PolicyRefused, match=key):
            policy.check_request(**request)
    with pytest.raises(PolicyRefused, match="min-noise-multiplier"):
        policy.check_noise(0.5, epsilon=2.0, rounds=3)
    json.dumps(policy.as_node_config())  # a node_config a SuperNode can be given back
