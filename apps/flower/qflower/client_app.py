"""The Flower ``ClientApp``: one client's DP-LoRA training and profile, under its own limits.

Every message carries the task's settings (``config["task"]``, JSON from the server), so the
split a client trains on is the one the server planned (same dataset, seed and partitioning
on every node). The client's partition is ``node_config["partition-id"]`` out of
``node_config["num-partitions"]``.

The guarantee holds against the server, so the client decides, not the server:

* its limits are pinned in its ``node_config`` (:data:`qfed.policy.NODE_CONFIG_KEYS`:
  ``max-epsilon``, ``max-delta``, ``min-noise-multiplier``, ``max-rounds``,
  ``share-label-counts``, ``count-noise``, ``allow-seeded-noise``, ``trust-server``); a
  request beyond them (or for a mode that sends raw updates, without ``trust-server``) is
  refused with a message naming the key;
* its privacy ledger (every release, the spent budget) is a JSON file in ``state-dir``
  (node_config; default ``~/.qflower/ledgers``), written after every release, so a restarted
  client continues its composition and nothing the server sends can reset it;
* its noise and batch coins come from the CSPRNG; the seeded test mode needs the node's
  consent (``allow-seeded-noise=true``);
* every field it sends is in :data:`RELEASED_FIELDS`, each accounted or public; federated
  evaluation on its own data is refused in a private run (the metrics are not accounted).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from qfed.client import (
    PROFILE_FIELDS,
    REPLY_FIELDS,
    cached_model,
    client_profile,
    client_round,
    seeded_source,
)
from qfed.errors import InvalidConfig, PolicyRefused
from qfed.ledger import ClientLedger
from qfed.policy import NODE_CONFIG_KEYS, ClientPolicy
from qfed.task import FederatedTask
from qfed.training import evaluate as evaluate_model

from qflower.config import config_from_json
from qflower.secure_aggregation import (
    SECAGG_RELEASED,
    check_weight,
    fit_reply,
    fit_request,
    global_from_parameters,
    is_legacy_fit,
    secure_aggregation_mod,
    update_to_send,
)

#: node_config keys besides the policy's
NODE_KEYS: dict[str, str] = {
    "partition-id": "this node's partition of the dataset",
    "num-partitions": "the number of partitions (must equal the run's num-clients)",
    "state-dir": "folder of this node's privacy ledger (default ~/.qflower/ledgers)",
    **{key: text for key, (_, text) in NODE_CONFIG_KEYS.items()},
}

DEFAULT_STATE_DIR = Path("~/.qflower/ledgers")

_PARTITION = "public: the node's identity, which the server knows from the connection"

#: Every value a reply of this ClientApp carries, by where it sits in the message, and why it
#: may leave the client. A test walks real replies and fails on anything not listed here.
RELEASED_FIELDS: dict[str, str] = {
    "train.arrays.*": (
        "dp=sample: the LoRA tensors after DP-SGD (accounted, every step, in the ledger); "
        "dp=client: raw to the server, which clips and noises them (trusted server)"
    ),
    "train.metrics.num-examples": REPLY_FIELDS["num_examples"],
    "train.metrics.partition-id": _PARTITION,
    **{f"train.report.{k}": v for k, v in REPLY_FIELDS.items()},
    "train.report.partition_id": _PARTITION,
    **{f"query.profile.{k}": v for k, v in PROFILE_FIELDS.items()},
    "query.profile.partition_id": _PARTITION,
    "evaluate.metrics.*": "dp=none only (not private): refused in a private run",
    # secure-aggregation=true: the train reply's report travels as fitres.metrics.report
    **{f"secure.fitres.metrics.report.{k}": v for k, v in REPLY_FIELDS.items()},
    "secure.fitres.metrics.report.partition_id": _PARTITION,
    **SECAGG_RELEASED,
}

_TASKS: dict[str, FederatedTask] = {}  # per process: the split is built once per setting


def _task(message: Message, config: Mapping[str, Any] | None = None) -> tuple[FederatedTask, dict]:
    config = message.content["config"] if config is None else config
    text = str(config["task"])
    if text not in _TASKS:
        _TASKS.clear()
        _TASKS[text] = FederatedTask(config_from_json(text))
    threads = int(config.get("torch-threads", 0)) or 1
    # Ray gives each simulated client one CPU; more torch threads would oversubscribe it
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return _TASKS[text], dict(config)


def node_settings(context: Context, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """This node's settings: ``defaults`` (the app's) under its ``node_config``."""
    merged = {**dict(defaults or {}), **dict(context.node_config)}
    unknown = sorted(set(merged) - set(NODE_KEYS))
    if unknown:
        raise InvalidConfig(
            f"unknown node_config key(s) {unknown}; known keys: {sorted(NODE_KEYS)}"
        )
    return merged


def partition_id(settings: Mapping[str, Any], num_clients: int) -> int:
    """This node's partition, checked against the run's ``num-clients``."""
    try:
        pid = int(settings["partition-id"])
        parts = int(settings["num-partitions"])
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


def ledger_path(settings: Mapping[str, Any], pid: int) -> Path:
    folder = Path(str(settings.get("state-dir") or DEFAULT_STATE_DIR)).expanduser()
    return folder / f"ledger-partition-{pid}.json"


def _open_node(
    context: Context, defaults: Mapping[str, Any], task: FederatedTask
) -> tuple[int, ClientPolicy, Path, ClientLedger]:
    """This node's partition, its pinned policy, and its ledger (with the ledger's path)."""
    settings = node_settings(context, defaults)
    pid = partition_id(settings, task.config.num_clients)
    path = ledger_path(settings, pid)
    return pid, ClientPolicy.from_node_config(settings), path, ClientLedger.load(path)


def arrays_to_state(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {name: array.numpy() for name, array in record.items()}


def state_to_arrays(state: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({name: Array(np.ascontiguousarray(v)) for name, v in state.items()})


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


def build_client_app(node_defaults: Mapping[str, Any] | None = None) -> ClientApp:
    """A ClientApp whose nodes use ``node_defaults`` wherever their node_config is silent.

    ``python -m qflower`` uses it to give every simulated node the same limits and a ledger
    folder of the run's own; ``flwr run`` loads :data:`app` (no defaults).
    """
    client_app = ClientApp()
    fixed = dict(node_defaults or {})

    @client_app.query()
    def query(message: Message, context: Context) -> Message:
        """The client's profile: only released values (noisy counts) and public numbers."""
        task, _ = _task(message)
        pid, policy, path, ledger = _open_node(context, fixed, task)
        profile = client_profile(
            task,
            pid,
            ledger=ledger,
            policy=policy,
            source=seeded_source(task.config, pid, 0),
        )
        ledger.save(path)  # the release is on disk before it leaves the node
        profile["epsilon_budget"] = _json_safe(float(profile["epsilon_budget"]))
        profile["partition_id"] = pid
        content = RecordDict({"profile": ConfigRecord({"json": json.dumps(profile)})})
        return Message(content, reply_to=message)

    def _train_round(
        task: FederatedTask,
        config: Mapping[str, Any],
        context: Context,
        start: Mapping[str, np.ndarray],
    ) -> tuple[Any, dict]:
        """Train this node's round from the global tensors ``start`` (either mode).

        Returns the round's result and its report (the released metrics plus the partition);
        the ledger is on disk before anything leaves the node.
        """
        pid, policy, path, ledger = _open_node(context, fixed, task)
        fail = [int(v) for v in str(config.get("fail-clients", "")).split(",") if v.strip()]
        if pid in fail:
            # the fault-tolerance hook: this partition drops out of every round it is picked
            raise RuntimeError(f"partition {pid} fails on purpose (run-config fail-clients)")
        result = client_round(
            task, pid, start, ledger=ledger, policy=policy, round=int(config["server-round"])
        )
        ledger.save(path)  # the steps are on the ledger before the update leaves the node
        report = dict(result.metrics)
        report["epsilon_budget"] = _json_safe(float(report.get("epsilon_budget", math.inf)))
        report["partition_id"] = pid
        return result, report

    @client_app.train(mods=[secure_aggregation_mod])
    def train(message: Message, context: Context) -> Message:
        """One round of local (DP-)training from the global LoRA tensors."""
        if is_legacy_fit(message):
            return _train_secure(message, context)
        task, config = _task(message)
        start = arrays_to_state(message.content["arrays"])
        result, report = _train_round(task, config, context, start)
        content = RecordDict(
            {
                "arrays": state_to_arrays(result.state),
                # FedAvg's reply contract: a MetricRecord carrying the weight, "num-examples"
                # (here the released count, never the exact one under sample-level DP)
                "metrics": MetricRecord(
                    {
                        "num-examples": int(report["num_examples"]),
                        "partition-id": report["partition_id"],
                    }
                ),
                "report": ConfigRecord({"json": json.dumps(report)}),
            }
        )
        return Message(content, reply_to=message)

    def _train_secure(message: Message, context: Context) -> Message:
        """A SecAgg+ round: train, then hand the update to secaggplus_mod to mask."""
        parameters, config = fit_request(message)
        task, config = _task(message, config)
        names = sorted(cached_model(task).trainable_state())
        start = global_from_parameters(parameters, names)
        result, report = _train_round(task, config, context, start)
        update = update_to_send(result.state, start, float(config["secagg-clipping-range"]))
        check_weight(context, int(report["num_examples"]))
        return fit_reply(message, update, int(report["num_examples"]), report)

    @client_app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        """Loss and accuracy of the global model on this client's own split (dp=none only).

        In a private run these metrics would be an unaccounted release of the client's
        data, so the client refuses; the server evaluates on its central test set.
        """
        task, _ = _task(message)
        settings = node_settings(context, fixed)
        pid = partition_id(settings, task.config.num_clients)
        if task.config.dp != "none":
            raise PolicyRefused(
                f"federated evaluation on this node's data is refused in a private run "
                f"(dp={task.config.dp}): its loss and accuracy are not accounted. Set "
                "evaluate-clients=0 (the server evaluates on its central test set)"
            )
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

    return client_app


app = build_client_app()
