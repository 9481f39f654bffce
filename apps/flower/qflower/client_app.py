"""The Flower ``ClientApp``: one client's DP-LoRA training, evaluation and profile.

Every message carries the task's settings (``config["task"]``, JSON from the server), so a
client never depends on its own copy of the run-config, and the split it trains on is the
one the server planned (same dataset, seed and partitioning on every node). The client's
partition is ``node_config["partition-id"]`` out of ``node_config["num-partitions"]``.

The client's DP accountant lives in ``context.state`` (Flower keeps a node's context across
rounds), so one accountant spans the whole run and epsilon composes over every round the
client trains in. When the context is fresh but the server sends the client's last known
accountant state (a run resumed from a checkpoint), that state is used instead of a new plan.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from qfed.client import cached_model, client_profile, client_round
from qfed.errors import InvalidConfig
from qfed.task import FederatedTask
from qfed.training import evaluate as evaluate_model

from qflower.config import config_from_json

app = ClientApp()

_TASKS: dict[str, FederatedTask] = {}  # per process: the split is built once per setting

ACCOUNTANT_KEY = "qfed-accountant"


def _task(message: Message) -> tuple[FederatedTask, dict]:
    config = message.content["config"]
    text = str(config["task"])
    if text not in _TASKS:
        _TASKS.clear()
        _TASKS[text] = FederatedTask(config_from_json(text))
    threads = int(config.get("torch-threads", 0)) or 1
    # Ray gives each simulated client one CPU; more torch threads would oversubscribe it
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return _TASKS[text], dict(config)


def partition_id(context: Context, num_clients: int) -> int:
    """This node's partition, checked against the run's ``num-clients``."""
    try:
        pid = int(context.node_config["partition-id"])
        parts = int(context.node_config["num-partitions"])
    except KeyError as exc:
        raise InvalidConfig(
            f"node_config lacks {exc}; start the SuperNode with "
            '--node-config "partition-id=<i> num-partitions=<num-clients>"'
        ) from None
    if parts != num_clients:
        raise InvalidConfig(
            f"num-partitions is {parts} on this node but the run has num-clients={num_clients}; "
            f"start {num_clients} SuperNodes (simulation: options.num-supernodes={num_clients}) "
            "or set num-clients to the number of nodes"
        )
    if not 0 <= pid < parts:
        raise InvalidConfig(f"partition-id must be in 0..{parts - 1}, got {pid}")
    return pid


def arrays_to_state(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {name: array.numpy() for name, array in record.items()}


def state_to_arrays(state: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({name: Array(np.ascontiguousarray(v)) for name, v in state.items()})


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


@app.query()
def query(message: Message, context: Context) -> Message:
    """The client's profile: data size and label counts (what FedAvg learns anyway)."""
    task, _ = _task(message)
    pid = partition_id(context, task.config.num_clients)
    profile = client_profile(task, pid)
    profile["epsilon_budget"] = _json_safe(float(profile["epsilon_budget"]))
    if ACCOUNTANT_KEY in context.state:
        # a client that already trained in this run reports what it has spent
        from qfed.privacy import ClientAccountant

        state = json.loads(str(context.state[ACCOUNTANT_KEY]["state"]))
        profile["epsilon_spent"] = ClientAccountant.from_state_dict(state).epsilon
    profile["partition_id"] = pid
    content = RecordDict({"profile": ConfigRecord({"json": json.dumps(profile)})})
    return Message(content, reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    """One round of local (DP-)training from the global LoRA tensors."""
    task, config = _task(message)
    pid = partition_id(context, task.config.num_clients)
    server_round = int(config["server-round"])
    fail = [int(v) for v in str(config.get("fail-clients", "")).split(",") if v.strip()]
    if pid in fail:
        # the fault-tolerance hook: this partition drops out of every round it is picked for
        raise RuntimeError(f"partition {pid} fails on purpose (run-config fail-clients)")
    accountant_state = None
    if ACCOUNTANT_KEY in context.state:
        accountant_state = json.loads(str(context.state[ACCOUNTANT_KEY]["state"]))
    elif config.get("accountant-state"):
        accountant_state = json.loads(str(config["accountant-state"]))
    result = client_round(
        task,
        pid,
        arrays_to_state(message.content["arrays"]),
        accountant_state=accountant_state,
        seed=task.config.seed + 1000 * server_round + pid,
    )
    if result.accountant_state is not None:
        context.state[ACCOUNTANT_KEY] = ConfigRecord({"state": json.dumps(result.accountant_state)})
    report = dict(result.metrics)
    report["epsilon_budget"] = _json_safe(float(report.get("epsilon_budget", math.inf)))
    report["partition_id"] = pid
    content = RecordDict(
        {
            "arrays": state_to_arrays(result.state),
            # FedAvg's reply contract: one MetricRecord carrying the weight, "num-examples"
            "metrics": MetricRecord(
                {
                    "num-examples": int(report["num_examples"]),
                    "train-loss": float(report["train_loss"]),
                    "epsilon": float(report["epsilon"]),
                    "partition-id": pid,
                }
            ),
            "report": ConfigRecord(
                {
                    "json": json.dumps(report),
                    "accountant-state": json.dumps(result.accountant_state)
                    if result.accountant_state is not None
                    else "",
                }
            ),
        }
    )
    return Message(content, reply_to=message)


@app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    """Loss and accuracy of the global model on this client's own split."""
    task, _ = _task(message)
    pid = partition_id(context, task.config.num_clients)
    data = task.client_data(pid)
    model = cached_model(task)
    model.load_trainable_state(arrays_to_state(message.content["arrays"]))
    report = evaluate_model(model, data.texts, data.labels, max_length=task.config.max_length)
    metrics = MetricRecord(
        {
            "num-examples": report.num_examples,
            "eval-loss": report.loss,
            "eval-accuracy": report.accuracy,
        }
    )
    return Message(RecordDict({"metrics": metrics}), reply_to=message)
