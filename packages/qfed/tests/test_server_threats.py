"""The audit's findings against a hostile server, each as a test (issue 10).

1. the server replays a client's round to decide membership;
2. anyone with the report regenerates client-level noise;
3. values leave the client that no accountant covers;
4. client-level "random" selection is not the Poisson sampling it is accounted as;
5. data-dependent selection under client-level DP.

Each finding has a positive control where it makes sense: the seeded test mode (the old
behaviour, now explicit and labelled not private) still lets the attack through, so the test
could fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qfed.client import REPLY_FIELDS, client_profile, client_round
from qfed.errors import InvalidConfig, PolicyRefused
from qfed.ledger import ClientLedger
from qfed.policy import ClientPolicy
from qfed.randomness import SecureRandom, SeededRandom
from qfed.server import ClientReply, FederatedServer
from qfed.task import FedConfig, FederatedTask

TINY = {
    "model": "tiny",
    "num_clients": 3,
    "clients_per_round": 3,
    "rounds": 2,
    "max_examples_per_client": 40,
    "max_test_examples": 32,
    "max_length": 16,
    "batch_size": 8,
    "partition": "iid",
    "selection": "random",
}


class WithoutOneRecord(FederatedTask):
    """D-: the client's data with its first row removed (the candidate record)."""

    def client_data(self, client: int):
        data = super().client_data(client)
        return data.subset(np.arange(1, len(data)))


def _flat(state: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(state[k], dtype=np.float64).ravel() for k in sorted(state)])


def _round(task: FederatedTask, start: dict, **kwargs) -> np.ndarray:
    policy = ClientPolicy(allow_seeded_noise=True)
    result = client_round(task, 0, start, ledger=ClientLedger(), policy=policy, round=1, **kwargs)
    return _flat(result.state)


@pytest.fixture(scope="module")
def start_state():
    return FederatedTask(FedConfig(**TINY)).build_model().trainable_state()


def test_replay_attack_decides_membership_only_in_the_seeded_test_mode(start_state):
    # positive control: with noise seeded from the run config (what the audit found), the
    # server's replay of the client's round on D reproduces the update exactly
    seeded = {**TINY, "insecure_seeded_noise": True}
    real = _round(FederatedTask(FedConfig(**seeded)), start_state)
    replay_d = _round(FederatedTask(FedConfig(**seeded)), start_state)
    replay_d_minus = _round(WithoutOneRecord(FedConfig(**seeded)), start_state)
    assert np.linalg.norm(real - replay_d) == 0.0
    assert np.linalg.norm(real - replay_d_minus) > 1e-4

    # the default: the client's noise and batches come from the CSPRNG; the server's best
    # replay (its own seeded run, for either world) misses the real update in both worlds
    # by the same order, so it cannot tell D from D-
    secure = FedConfig(**TINY)
    real = _round(FederatedTask(secure), start_state)
    d = np.linalg.norm(real - _round(FederatedTask(FedConfig(**seeded)), start_state))
    d_minus = np.linalg.norm(real - _round(WithoutOneRecord(FedConfig(**seeded)), start_state))
    assert d > 1e-4 and d_minus > 1e-4
    assert 0.5 < d / d_minus < 2.0


def test_two_identical_client_rounds_differ(start_state):
    task = FederatedTask(FedConfig(**TINY))
    first, second = _round(task, start_state), _round(task, start_state)
    assert np.linalg.norm(first - second) > 1e-4


def test_client_level_noise_is_not_recoverable_from_the_report():
    # the report holds the seed; the noise no longer derives from it
    config = FedConfig(**{**TINY, "dp": "client", "clients_per_round": 2})
    outs = []
    for _ in range(2):
        server = FederatedServer(FederatedTask(config))
        update = {k: v + 0.01 for k, v in server.global_state.items()}
        outs.append(_flat(server.client_dp.aggregate(server.global_state, [update], None)))
        assert isinstance(server.source, SecureRandom)
    assert np.linalg.norm(outs[0] - outs[1]) > 1e-6
    # the report's seed regenerates nothing: the audit's generator gives other numbers
    seeded = FedConfig(**{**TINY, "dp": "client", "clients_per_round": 2, "seed": 0})
    server = FederatedServer(FederatedTask(seeded))
    old = np.random.default_rng(seeded.seed * 7919 + 1)
    guess = old.normal(0.0, server.client_dp.noise_std, size=outs[0].shape)
    assert np.linalg.norm(outs[0] - _flat(server.global_state) - guess) > 1e-6


def test_client_reply_carries_only_accounted_or_public_fields(start_state):
    task = FederatedTask(FedConfig(**TINY))
    result = client_round(task, 0, start_state, ledger=ClientLedger(), round=1)
    assert set(result.metrics) <= set(REPLY_FIELDS)
    for gone in ("train_loss", "train_seconds", "round_seconds"):
        assert gone not in result.metrics
    profile = client_profile(task, 1, ledger=ClientLedger())
    assert set(profile) <= {
        "num_examples",
        "label_counts",
        "epsilon_spent",
        "epsilon_budget",
        "not_private",
    }


def test_the_count_release_is_noisy_accounted_and_made_once():
    task = FederatedTask(FedConfig(**TINY))
    exact = task.client_data(0).label_counts()
    ledger = ClientLedger()
    first = client_profile(task, 0, ledger=ledger)
    again = client_profile(task, 0, ledger=ledger)
    assert first == again  # asking twice reveals nothing new and costs nothing more
    assert ledger.history == [(10.0, 1.0, 1)]  # one Gaussian release, std 10, sensitivity 1
    assert ledger.epsilon(1e-5) > 0
    # noisy: over clients the released counts differ from the exact ones
    diffs = [
        np.abs(
            np.array(client_profile(task, c, ledger=ClientLedger())["label_counts"])
            - np.asarray(task.client_data(c).label_counts())
        ).sum()
        for c in range(3)
    ]
    assert sum(diffs) > 0
    assert len(exact) == len(first["label_counts"])
    withheld = client_profile(
        task, 0, ledger=ClientLedger(), policy=ClientPolicy(share_label_counts=False)
    )
    assert "label_counts" not in withheld and withheld["num_examples"] >= 0


def test_the_sample_rate_comes_from_the_released_size(start_state):
    task = FederatedTask(FedConfig(**TINY))
    ledger = ClientLedger()
    client_round(task, 0, start_state, ledger=ledger, round=1)
    steps_per_epoch = math.ceil(ledger.public_size / TINY["batch_size"])
    assert ledger.plan["public_size"] == ledger.public_size
    assert ledger.plan["sample_rate"] == pytest.approx(1.0 / steps_per_epoch)
    # every DP-SGD step is on the ledger after the count release
    dp_steps = sum(n for z, q, n in ledger.history[1:])
    assert dp_steps == steps_per_epoch and ledger.rounds_trained == 1


def test_client_refuses_what_it_did_not_pin(start_state):
    task = FederatedTask(FedConfig(**TINY))  # epsilon 8, delta 1e-5
    with pytest.raises(PolicyRefused, match="max-epsilon"):
        client_round(task, 0, start_state, policy=ClientPolicy(max_epsilon=4.0))
    with pytest.raises(PolicyRefused, match="max-delta"):
        client_round(task, 0, start_state, policy=ClientPolicy(max_delta=1e-6))
    with pytest.raises(PolicyRefused, match="min-noise-multiplier"):
        client_round(task, 0, start_state, policy=ClientPolicy(min_noise_multiplier=50.0))
    with pytest.raises(PolicyRefused, match="max-rounds"):
        client_round(
            task,
            0,
            start_state,
            ledger=ClientLedger(rounds_trained=2),
            policy=ClientPolicy(max_rounds=2),
        )
    seeded = FederatedTask(FedConfig(**{**TINY, "insecure_seeded_noise": True}))
    with pytest.raises(PolicyRefused, match="allow-seeded-noise"):
        client_round(seeded, 0, start_state, policy=ClientPolicy())
    # a server that switches DP off gets no raw update from a node that does not trust it
    for dp in ("none", "client"):
        task = FederatedTask(FedConfig(**{**TINY, "dp": dp}))
        with pytest.raises(PolicyRefused, match="trust-server"):
            client_round(task, 0, start_state, policy=ClientPolicy())
        with pytest.raises(PolicyRefused, match="trust-server"):
            client_profile(task, 0, policy=ClientPolicy())


def test_a_restarted_client_keeps_its_spent_budget(tmp_path, start_state):
    task = FederatedTask(FedConfig(**TINY))
    path = tmp_path / "ledger.json"
    ledger = ClientLedger.load(path)  # a new node: empty
    client_round(task, 0, start_state, ledger=ledger, round=1)
    ledger.save(path)
    spent = ledger.epsilon(1e-5)
    restarted = ClientLedger.load(path)  # the process restarts: the file is the state
    assert restarted.epsilon(1e-5) == pytest.approx(spent) and spent > 0
    client_round(task, 0, start_state, ledger=restarted, round=2)
    assert restarted.epsilon(1e-5) > spent
    # a client whose ledger already holds the run's epsilon trains no more
    exhausted = ClientLedger(history=[(0.5, 1.0, 40)], total=40.0)
    result = client_round(task, 0, start_state, ledger=exhausted, round=3)
    assert result.metrics["budget_exhausted"] == 1 and result.metrics["steps"] == 0
    path.write_text("{not json")
    with pytest.raises(InvalidConfig, match="unreadable"):
        ClientLedger.load(path)


def test_client_level_random_selection_is_poisson_sampling():
    config = FedConfig(**{**TINY, "dp": "client", "num_clients": 10, "clients_per_round": 3})
    server = FederatedServer(FederatedTask(config))
    assert isinstance(server.source, SecureRandom)
    sizes, hits = [], np.zeros(10)
    for rnd in range(1, 1501):
        chosen = server.select(range(10), round=rnd).selected
        sizes.append(len(chosen))
        hits[chosen] += 1
    # each client independently with q = K/N: a variable round size, Binomial(10, 0.3)
    assert len(set(sizes)) >= 4
    assert np.mean(sizes) == pytest.approx(3.0, abs=0.2)
    assert np.var(sizes) == pytest.approx(10 * 0.3 * 0.7, rel=0.2)
    np.testing.assert_allclose(hits / 1500, 0.3, atol=0.05)
    assert server.client_dp.sample_rate == pytest.approx(0.3)


def test_an_empty_client_level_round_still_adds_noise():
    config = FedConfig(**{**TINY, "dp": "client", "clients_per_round": 1})
    server = FederatedServer(FederatedTask(config))
    before = _flat(server.global_state)
    server.aggregate([])
    assert server.client_dp.rounds == 1
    assert np.linalg.norm(_flat(server.global_state) - before) > 0


def test_data_dependent_selection_voids_client_level_dp_unless_opted_in():
    for method in ("qubo", "greedy"):
        with pytest.raises(InvalidConfig, match="client-level DP does not hold"):
            FedConfig(**{**TINY, "dp": "client", "selection": method})
        opted = FedConfig(
            **{**TINY, "dp": "client", "selection": method, "allow_unprotected_selection": True}
        )
        assert any("does not hold" in r for r in opted.not_private_reasons)
    assert FedConfig(**{**TINY, "dp": "client"}).not_private_reasons == []


def test_client_level_report_rows_hide_the_participants():
    config = FedConfig(**{**TINY, "dp": "client", "clients_per_round": 2})
    server = FederatedServer(FederatedTask(config))
    for cid in range(3):
        server.update_client(cid, {"num_examples": 40})
    selection = server.select(range(3), round=1)
    replies = [
        ClientReply(c, server.global_state, {"num_examples": 40}) for c in selection.selected
    ]
    server.run_round(selection, replies)
    (row,) = server.public_history()
    assert set(row) <= set(FederatedServer.PUBLIC_UNDER_CLIENT_DP)
    assert "selected" in server.history[0]  # the operator's own record keeps them


def test_seeded_mode_is_labelled_not_private_everywhere(start_state):
    config = FedConfig(**{**TINY, "insecure_seeded_noise": True})
    assert any("seeded" in r for r in config.not_private_reasons)
    server = FederatedServer(FederatedTask(config))
    assert isinstance(server.source, SeededRandom)
    ledger = ClientLedger()
    result = client_round(
        FederatedTask(config),
        0,
        start_state,
        ledger=ledger,
        policy=ClientPolicy(allow_seeded_noise=True),
        round=1,
    )
    assert result.metrics["not_private"] == 1 and ledger.seeded
    assert math.isinf(ledger.epsilon(1e-5))  # a seeded ledger claims nothing
