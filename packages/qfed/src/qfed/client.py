"""What one client does in a round, independent of how messages travel.

The Flower ``ClientApp`` and the in-process simulator both call :func:`client_round`: load the
global tensors, train on the client's own split (DP-SGD when the run is sample-level private,
with the client's accountant carried over from earlier rounds), and return the new tensors,
the updated accountant state and the metrics the server uses to profile the client.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qfed.model import LoraModel
from qfed.privacy import ClientAccountant
from qfed.task import FederatedTask
from qfed.training import TrainReport, train_local

_MODELS: dict[tuple, LoraModel] = {}


def cached_model(task: FederatedTask) -> LoraModel:
    """One model per process and setting: the frozen backbone is loaded once.

    Safe to reuse because every round starts by overwriting all trainable tensors with the
    server's, and nothing else in the model is trainable.
    """
    c = task.config
    key = (c.model, c.lora, c.seed, task.num_labels)
    if key not in _MODELS:
        _MODELS.clear()  # one setting at a time is all a client process runs
        _MODELS[key] = task.build_model()
    return _MODELS[key]


@dataclass(frozen=True)
class ClientRoundResult:
    state: dict[str, np.ndarray]
    report: TrainReport
    accountant_state: dict | None
    metrics: dict[str, float | int]


def client_profile(task: FederatedTask, client_id: int) -> dict[str, float | int | list[int]]:
    """What a client tells the server about itself before it is ever selected.

    Sizes and label counts are what FedAvg already learns from a client's replies; a client
    that must not reveal its label histogram can withhold it (the server then treats the
    client's labels as unknown).
    """
    data = task.client_data(client_id)
    c = task.config
    budget = c.epsilon if c.dp == "sample" else math.inf
    return {
        "num_examples": len(data),
        "label_counts": [int(v) for v in data.label_counts()],
        "epsilon_spent": 0.0,
        "epsilon_budget": budget,
    }


def client_round(
    task: FederatedTask,
    client_id: int,
    global_state: Mapping[str, np.ndarray],
    *,
    accountant_state: dict | None = None,
    seed: int = 0,
) -> ClientRoundResult:
    """Train one round on ``client_id``'s split, starting from ``global_state``."""
    start = time.perf_counter()
    data = task.client_data(client_id)
    model = cached_model(task)
    model.load_trainable_state(global_state)
    if accountant_state is not None:
        accountant = ClientAccountant.from_state_dict(accountant_state)
    else:
        accountant = task.plan_accountant(len(data))
    report = train_local(
        model,
        data.texts,
        data.labels,
        task.config.train_settings,
        accountant=accountant,
        seed=seed,
    )
    metrics: dict[str, float | int] = {
        "num_examples": report.num_examples,
        "steps": report.steps,
        "train_loss": report.loss if math.isfinite(report.loss) else 0.0,
        "epsilon": report.epsilon if report.epsilon is not None else 0.0,
        "epsilon_budget": accountant.epsilon_budget if accountant is not None else math.inf,
        "budget_exhausted": int(report.budget_exhausted),
        "stopped_early": int(report.stopped_early),
        "train_seconds": report.seconds,
        "round_seconds": time.perf_counter() - start,
    }
    if accountant is not None:
        metrics["noise_multiplier"] = accountant.noise_multiplier
    return ClientRoundResult(
        state=model.trainable_state(),
        report=report,
        accountant_state=None if accountant is None else accountant.state_dict(),
        metrics=metrics,
    )
