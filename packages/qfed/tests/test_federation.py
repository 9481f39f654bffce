import json
import math

import numpy as np
import pytest

from qfed.errors import InvalidConfig
from qfed.server import FederatedServer
from qfed.simulation import simulate
from qfed.task import FedConfig, FederatedTask

QUICK = {
    "model": "tiny",
    "num_clients": 4,
    "clients_per_round": 2,
    "max_examples_per_client": 60,
    "max_test_examples": 120,
    "max_length": 32,
    "batch_size": 20,
    "rounds": 2,
}


def test_config_from_flower_style_mapping():
    config = FedConfig.from_mapping(
        {"num-clients": 6, "lora-targets": "query, key", "ffa": True, "max-test-examples": "none"}
    )
    assert config.num_clients == 6
    assert config.lora_targets == ("query", "key")
    assert config.lora.ffa and config.max_test_examples is None
    with pytest.raises(InvalidConfig, match="unknown setting 'num-rounds'"):
        FedConfig.from_mapping({"num-rounds": 3})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"clients_per_round": 11}, "clients_per_round"),
        ({"dp": "local"}, "dp"),
        ({"selection": "best"}, "selection"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"delta": 0.0}, "delta"),
        ({"lora_rank": 0}, "rank"),
        ({"max_examples_per_client": 0}, "max_examples_per_client"),
        ({"average_last_rounds": 0}, "average_last_rounds"),
        ({"prefix_precision": "fp8"}, "prefix_precision"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(InvalidConfig, match=field):
        FedConfig(**kwargs)


def test_task_split_is_deterministic_and_test_set_is_held_out():
    task = FederatedTask(FedConfig(**QUICK))
    again = FederatedTask(FedConfig(**QUICK))
    test_texts = set(task.test_data().texts)
    for client in range(4):
        data = task.client_data(client)
        assert data.texts == again.client_data(client).texts
        assert len(data) <= 60
        # the central test set shares no row with any client (texts may repeat in tweets,
        # so compare the bulk, not every duplicate)
        assert len(set(data.texts) & test_texts) <= 1
    with pytest.raises(InvalidConfig, match="partition-id"):
        task.client_data(4)


def test_sample_level_run_epsilon_grows_and_stays_within_budget():
    server = simulate(FedConfig(**QUICK, epsilon=6.0, selection="qubo"), progress=None)
    rows = server.history
    assert [r["round"] for r in rows] == [1, 2]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert 0 < rows[0]["epsilon_max"] <= rows[1]["epsilon_max"] <= 6.0
    assert rows[0]["bytes_sent"] > 0 and rows[0]["bytes_received"] > 0
    assert all(len(r["selected"]) == 2 for r in rows)


def test_client_level_dp_and_checkpoint_resume():
    config = FedConfig(**QUICK, dp="client", epsilon=50.0, selection="random")
    server = simulate(config, progress=None)
    eps = [r["epsilon_max"] for r in server.history]
    assert 0 < eps[0] < eps[1] and math.isfinite(eps[1])
    state = json.loads(json.dumps(server.state_dict()))
    tensors = {k: v.copy() for k, v in server.global_state.items()}
    resumed = FederatedServer(FederatedTask(config))
    assert any(not np.array_equal(resumed.global_state[k], tensors[k]) for k in tensors), (
        "the trained global model must differ from a fresh one"
    )
    resumed.load_state_dict(state, tensors)
    assert resumed.round == 2 and resumed.client_dp.epsilon == pytest.approx(eps[1])
    assert resumed.evaluate().accuracy == pytest.approx(server.history[-1]["accuracy"])


def test_non_private_robust_aggregation_runs():
    server = simulate(
        FedConfig(**QUICK, dp="none", aggregation="trimmed_mean", selection="greedy"),
        progress=None,
    )
    assert len(server.history) == 2
    assert math.isinf(server.history[-1]["epsilon_max"])


def test_clients_stop_at_their_budget_and_the_run_goes_on():
    # noise planned for one round; the run has three, and both clients are picked every round
    config = FedConfig(
        **{**QUICK, "num_clients": 2, "clients_per_round": 2, "rounds": 3},
        planned_rounds=1,
        epsilon=4.0,
    )
    lines = []
    server = simulate(config, progress=lines.append)
    rows = server.history
    assert len(rows) == 3
    assert any(r["budget_exhausted"] for r in rows)
    assert any("budget spent" in line for line in lines)
    assert all(r["epsilon_max"] <= 4.0 for r in rows)
    assert rows[-1]["train_examples"] == 0  # nobody can afford the last round


def test_from_mapping_reads_none_as_unset_for_every_optional_integer():
    from qfed.task import OPTIONAL_INTS

    for name in OPTIONAL_INTS:
        key = name.replace("_", "-")
        assert getattr(FedConfig.from_mapping({key: "none"}), name) is None


def test_a_second_run_in_the_same_process_starts_from_the_initial_tensors():
    # the cached model carries the last run's tensors; a new server must not inherit them
    from qfed.client import cached_model

    config = FedConfig(
        model="tiny",
        num_clients=2,
        clients_per_round=2,
        rounds=1,
        max_examples_per_client=16,
        max_test_examples=16,
        max_length=16,
        batch_size=8,
        partition="iid",
        dp="none",
        selection="random",
    )
    task = FederatedTask(config)
    initial = task.build_model().trainable_state()
    simulate(config, progress=None)
    moved = cached_model(task).trainable_state()
    assert any(not np.allclose(moved[k], initial[k]) for k in initial)
    again = FederatedServer(task, model=cached_model(task, fresh=True)).global_state
    for k in initial:
        np.testing.assert_array_equal(again[k], initial[k])


def test_seeded_test_mode_trains_is_reproducible_and_is_labelled_not_private():
    # the seeded mode's epsilon is inf (no guarantee); that must not read as a spent budget
    config = FedConfig(**QUICK, insecure_seeded_noise=True, selection="random")
    first = simulate(config, progress=None).history
    again = simulate(config, progress=None).history
    assert all(r["train_examples"] > 0 for r in first)
    assert all(r["private"] is False for r in first)
    assert [r["accuracy"] for r in first] == [r["accuracy"] for r in again]
    assert [r["selected"] for r in first] == [r["selected"] for r in again]


def test_seeded_test_mode_still_stops_clients_at_their_accounted_budget():
    config = FedConfig(
        **{**QUICK, "num_clients": 2, "clients_per_round": 2, "rounds": 3},
        planned_rounds=1,
        epsilon=4.0,
        insecure_seeded_noise=True,
    )
    rows = simulate(config, progress=None).history
    assert rows[0]["train_examples"] > 0
    assert rows[-1]["train_examples"] == 0  # the plan covered one round; the ledger stops it


def test_released_model_averages_the_last_rounds_and_survives_a_resume():
    config = FedConfig(**{**QUICK, "rounds": 3}, dp="none", average_last_rounds=2)
    seen = []
    original = FederatedServer._remember_round

    def spy(self):
        original(self)
        seen.append({k: v.copy() for k, v in self.global_state.items()})

    FederatedServer._remember_round = spy
    try:
        server = simulate(config, progress=None)
    finally:
        FederatedServer._remember_round = original
    assert len(seen) == 3
    released = server.released_state()
    for name, value in released.items():
        np.testing.assert_allclose(value, (seen[1][name] + seen[2][name]) / 2, rtol=1e-6)
    assert any(not np.allclose(released[k], server.global_state[k]) for k in released)
    assert [r["released_from_rounds"] for r in server.history] == [[1], [1, 2], [2, 3]]
    # the reported accuracy is the released model's, and a resume keeps the tail
    state = json.loads(json.dumps(server.state_dict()))
    resumed = FederatedServer(FederatedTask(config))
    resumed.load_state_dict(state, {k: v.copy() for k, v in server.global_state.items()})
    for name, value in resumed.released_state().items():
        np.testing.assert_allclose(value, released[name], rtol=1e-6)
    assert resumed.evaluate().accuracy == pytest.approx(server.history[-1]["accuracy"])
    # N = 1: the released model is the latest global model
    latest = simulate(FedConfig(**QUICK, dp="none"), progress=None)
    assert latest.released_state() is latest.global_state
