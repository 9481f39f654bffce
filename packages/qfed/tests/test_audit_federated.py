"""Tests for the one-run audits of the federated path: canary records in one client's DP-SGD
(``audit_client_training``) and canary clients in client-level DP-FedAvg
(``audit_client_level``). Each DP run must stay at or below its accounted epsilon, and each
positive control (no noise) must find leakage, so that the audit itself can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qfed.audit import FederatedAuditResult, audit_client_level, audit_client_training
from qfed.errors import InvalidConfig
from qfed.task import FedConfig, FederatedTask

# one client's real rows from the default corpus, the tiny test model
CONFIG = {"model": "tiny", "num_clients": 4, "max_examples_per_client": 100, "seed": 0}
# 200 canaries (100 +- 7 included) next to 100 real rows; 6 epochs of 11 Poisson steps
SAMPLE = {"num_canaries": 200, "epochs": 6, "learning_rate": 0.05, "seed": 0}
# 100 real clients + up to 100 canary clients, K = 20, 50 rounds (q = 0.1)
CLIENT = {"num_clients": 100, "num_canaries": 100, "clients_per_round": 20, "rounds": 50}


@pytest.fixture(scope="module")
def task() -> FederatedTask:
    return FederatedTask(FedConfig(**CONFIG))


@pytest.fixture(scope="module")
def model(task: FederatedTask):
    return task.build_model()


# ---------------------------------------------------------------------------- sample level


@pytest.mark.parametrize("score", ["ridge", "inner"])
def test_client_training_audit_stays_below_the_accounted_epsilon(task, model, score) -> None:
    before = model.trainable_state()
    res = audit_client_training(task=task, model=model, epsilon=4.0, score=score, **SAMPLE)
    assert isinstance(res, FederatedAuditResult) and res.level == "sample"
    assert 3.9 < res.accounted_epsilon <= 4.0
    assert res.audit.epsilon_lower_bound <= res.accounted_epsilon
    assert res.steps == 6 * math.ceil((100 + 100) / 32)
    assert res.num_real == 100 and res.audit.guesses == 40
    assert res.dimension == sum(v.size for v in before.values())
    # the caller's model is handed back as it came
    after = model.trainable_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_client_training_positive_control_finds_the_canaries(task, model) -> None:
    res = audit_client_training(task=task, model=model, noise_multiplier=0.0, **SAMPLE)
    assert res.accounted_epsilon == math.inf and res.noise_multiplier == 0.0
    assert res.audit.precision > 0.8
    assert res.audit.epsilon_lower_bound > 0.5


def test_client_training_takes_rows_instead_of_a_task(model) -> None:
    texts = [f"good flight {i}" if i % 2 else f"bad delay {i}" for i in range(40)]
    labels = np.arange(40) % 2
    res = audit_client_training(
        texts=texts, labels=labels, model=model, noise_multiplier=2.0, num_canaries=20, epochs=1
    )
    assert res.num_real == 40 and res.num_canaries == 20 and res.audit.guesses == 4
    assert 0 < res.accounted_epsilon < math.inf
    assert res.audit.epsilon_lower_bound <= res.accounted_epsilon


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epsilon": 1.0, "noise_multiplier": 1.0}, "noise_multiplier"),
        ({}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"noise_multiplier": -0.5}, "noise_multiplier"),
        ({"epsilon": 1.0, "num_canaries": 1}, "num_canaries"),
        ({"epsilon": 1.0, "k_plus": 150, "k_minus": 60}, "k_plus"),
        ({"epsilon": 1.0, "score": "loss"}, "score"),
        ({"epsilon": 1.0, "delta": 0.0}, "delta"),
        ({"epsilon": 1.0, "learning_rate": 0.0}, "learning_rate"),
        ({"epsilon": 1.0, "max_length": 4}, "max_length"),
    ],
)
def test_client_training_bad_inputs_name_the_field(task, model, kwargs, field) -> None:
    with pytest.raises(InvalidConfig, match=field):
        audit_client_training(task=task, model=model, **kwargs)


def test_client_training_needs_one_source_of_rows(task) -> None:
    with pytest.raises(InvalidConfig, match="task and texts"):
        audit_client_training(epsilon=1.0)
    with pytest.raises(InvalidConfig, match="task and texts"):
        audit_client_training(task=task, texts=["a"], labels=[0], epsilon=1.0)
    with pytest.raises(InvalidConfig, match="labels"):
        audit_client_training(texts=["a", "b"], labels=[0], epsilon=1.0, model="tiny")


# ---------------------------------------------------------------------------- client level


@pytest.mark.parametrize("epsilon", [2.0, 8.0])
def test_client_level_audit_stays_below_the_accounted_epsilon(epsilon: float) -> None:
    res = audit_client_level(epsilon=epsilon, seed=0, **CLIENT)
    assert res.level == "client" and res.score == "cosine"
    assert 0.99 * epsilon < res.accounted_epsilon <= epsilon
    assert res.audit.epsilon_lower_bound <= res.accounted_epsilon
    assert res.steps == 50 and res.sample_rate == pytest.approx(20 / 200)
    assert res.dimension == 4096 and res.audit.guesses == 20


def test_client_level_positive_control_finds_the_canaries() -> None:
    res = audit_client_level(noise_multiplier=0.0, seed=0, **CLIENT)
    assert res.accounted_epsilon == math.inf
    assert res.audit.precision > 0.9
    assert res.audit.epsilon_lower_bound > 1.0


def test_client_level_on_the_tiny_models_tensors(model) -> None:
    # the travelling LoRA + head tensors of the tiny model (2147 coordinates), with a privacy
    # run and its control on the same canaries
    params = model.trainable_state()
    control = audit_client_level(params=params, noise_multiplier=0.0, seed=0, **CLIENT)
    private = audit_client_level(params=params, epsilon=4.0, seed=0, **CLIENT)
    assert control.dimension == private.dimension == sum(v.size for v in params.values())
    assert control.audit.epsilon_lower_bound > 1.0
    assert private.audit.epsilon_lower_bound <= private.accounted_epsilon <= 4.0


def test_client_level_with_real_local_training(task) -> None:
    # real clients run train_local from the global tensors each time they are drawn
    res = audit_client_level(
        task=task,
        client_updates="train",
        num_canaries=20,
        clients_per_round=2,
        rounds=4,
        epsilon=8.0,
        seed=0,
    )
    assert res.num_real == 4 and res.steps == 4
    assert res.audit.epsilon_lower_bound <= res.accounted_epsilon <= 8.0
    with pytest.raises(InvalidConfig, match="task is only used"):
        audit_client_level(task=task, epsilon=8.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epsilon": 1.0, "noise_multiplier": 0.0}, "noise_multiplier"),
        ({"epsilon": 1.0, "clip_norm": 0.0}, "clip_norm"),
        ({"epsilon": 1.0, "rounds": 0}, "rounds"),
        ({"epsilon": 1.0, "clients_per_round": 21}, "clients_per_round"),
        ({"epsilon": 1.0, "client_updates": "train"}, "task"),
        ({"epsilon": 1.0, "client_updates": "fake"}, "client_updates"),
        ({"epsilon": 1.0, "drift": 1.5}, "drift"),
        ({"epsilon": 1.0, "confidence": 1.0}, "confidence"),
        ({"epsilon": 1.0, "params": {}}, "params"),
    ],
)
def test_client_level_bad_inputs_name_the_field(kwargs: dict, field: str) -> None:
    small = {"num_clients": 10, "num_canaries": 10, "clients_per_round": 2}
    with pytest.raises(InvalidConfig, match=field):
        audit_client_level(**{**small, **kwargs})
