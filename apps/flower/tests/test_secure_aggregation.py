"""Secure aggregation (Flower SecAgg+) end to end on the in-process grid, tiny model.

What must hold: the server's new global tensors are the plain weighted mean of the clients'
updates (within SecAgg+'s quantisation error), nothing the server code receives is one
client's update, and a client that drops out after the key exchange is survived.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flwr.common import bytes_to_ndarray
from qfed.errors import InvalidConfig

import qflower.client_app as client_app_module
import qflower.secure_aggregation as secure_module
from qflower.client_app import RELEASED_FIELDS
from qflower.config import parse_run_config
from qflower.local import LocalGrid
from qflower.report import load_checkpoint
from qflower.server_app import run_server

TINY = {
    "model": "tiny",
    "num-clients": 4,
    "clients-per-round": 4,
    "rounds": 2,
    "max-examples-per-client": 40,
    "max-test-examples": 48,
    "max-length": 16,
    "batch-size": 16,
    "partition": "iid",
    "selection": "random",
    "secure-aggregation": True,
}


def _secure_run(tmp: Path, monkeypatch, **extra):
    """Run with spies on what each client computed and what the server was handed."""
    sent: list[tuple[int, int, list[np.ndarray]]] = []  # (round, weight, update) per client
    real_reply = client_app_module.fit_reply

    def spy_reply(message, update, num_examples, report):
        rnd = int(message.content.config_records["fitins.config"]["server-round"])
        sent.append((rnd, int(num_examples), [np.array(u) for u in update]))
        return real_reply(message, update, num_examples, report)

    monkeypatch.setattr(client_app_module, "fit_reply", spy_reply)
    strategies = []
    real_run = secure_module.run_secure_rounds

    def spy_run(*args, **kwargs):
        strategies.append(real_run(*args, **kwargs))
        return strategies[-1]

    monkeypatch.setattr(secure_module, "run_secure_rounds", spy_run)
    overrides = {**TINY, "output-dir": str(tmp / "run"), **extra}
    nodes = overrides["num-clients"]
    node_config = {"state-dir": str(tmp / "ledgers"), "trust-server": True}
    grid = LocalGrid(client_app_module.app, nodes, node_config=node_config)
    report = run_server(grid, {}, overrides, echo=lambda line: None)
    return report, grid, strategies[0], sent


def _released_names(grid: LocalGrid) -> set[str]:
    """Every value the server received in a secure run, named as RELEASED_FIELDS names them."""
    names = set()
    for message in grid.received:
        if message.has_error():
            continue
        content = message.content
        for key, record in content.config_records.items():
            if key == "profile":
                for field in json.loads(str(record["json"])):
                    names.add(f"query.profile.{field}")
            elif key == "fitres.metrics":
                for field in json.loads(str(record["report"])):
                    names.add(f"secure.fitres.metrics.report.{field}")
            elif key == "fitres.status":
                names.add("secure.fitres.status")
            else:
                names |= {f"secure.{key}.{field}" for field in record}
        for key in content.metric_records:
            names.add("secure.fitres.num_examples" if key.startswith("fitres.") else key)
        for key in content.array_records:
            names.add(f"secure.{key}")
    return names


def _weighted_mean(updates: list[tuple[int, list[np.ndarray]]]) -> list[np.ndarray]:
    total = sum(w for w, _ in updates)
    return [sum(w * u[i] for w, u in updates) / total for i in range(len(updates[0][1]))]


@pytest.mark.parametrize("dp", ["none", "sample"])
def test_secure_aggregate_is_the_weighted_mean_and_no_update_reaches_the_server(
    tmp_path, monkeypatch, dp
):
    report, grid, strategy, sent = _secure_run(tmp_path, monkeypatch, dp=dp)
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    for rnd, handed in enumerate(strategy.received, start=1):
        clients = [(w, u) for r, w, u in sent if r == rnd]
        assert len(handed) == len(clients) == 4
        expected = _weighted_mean(clients)
        for _, arrays, _ in handed:
            # every result carries the same tensors: the dequantised mean, not an update
            for got, want in zip(arrays, expected, strict=True):
                np.testing.assert_allclose(got, want, atol=2e-5)
    # nothing the server received is one client's update, masked or not
    updates = [u for _, _, update in sent for u in update if u.size > 4]
    for message in grid.received:
        content = message.content
        for record in content.array_records.values():
            assert len(record) == 0, "a tensor reached the server in clear"
        for record in content.config_records.values():
            for value in record.values():
                if isinstance(value, list) and value and isinstance(value[0], bytes):
                    for blob in value:
                        try:
                            array = bytes_to_ndarray(blob)
                        except Exception:
                            continue  # keys and ciphertexts are not arrays
                        for update in updates:
                            if array.size == update.size:
                                assert not np.allclose(array.ravel(), update.ravel(), atol=1e-3)
    # every value of every reply is a released field the docs list
    assert not (_released_names(grid) - set(RELEASED_FIELDS))
    # the final global tensors are the initial ones plus the two securely averaged updates
    state, tensors = load_checkpoint(tmp_path / "run")
    names = sorted(tensors)
    from qfed.task import FederatedTask

    fed = parse_run_config({}, {**TINY, "dp": dp})[0]
    start = FederatedTask(fed).build_model().trainable_state()
    for i, name in enumerate(names):
        moved = sum(_weighted_mean([(w, u) for r, w, u in sent if r == rnd])[i] for rnd in (1, 2))
        np.testing.assert_allclose(tensors[name], start[name] + moved, atol=5e-5)
    assert state["server"]["history"][-1]["private"] is (dp == "sample")


def test_a_client_that_drops_after_the_key_exchange_is_survived(tmp_path, monkeypatch):
    # partition 1 raises when asked for its masked update: SecAgg+ rebuilds its pairwise
    # masks from the other clients' shares and the round aggregates the other three
    report, _, strategy, sent = _secure_run(
        tmp_path, monkeypatch, dp="none", rounds=1, **{"fail-clients": "1"}
    )
    row = report["rounds"][0]
    assert row["failed"] == [1]
    assert sorted(row["replied"]) == [0, 2, 3]
    clients = [(w, u) for r, w, u in sent if r == 1]
    assert len(clients) == 3
    expected = _weighted_mean(clients)
    for _, arrays, _ in strategy.received[0]:
        for got, want in zip(arrays, expected, strict=True):
            np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"dp": "client", "selection": "random"}, "dp='client'"),
        ({"aggregation": "median"}, "aggregation='fedavg'"),
        ({"clients-per-round": 2}, "clients-per-round >= 3"),
        ({"secagg-threshold": 1.5}, "secagg-threshold"),
        ({"secagg-clipping-range": 0}, "secagg-clipping-range"),
        ({"secure-aggregation": "yes"}, "secure-aggregation must be true or false"),
    ],
)
def test_settings_secure_aggregation_cannot_serve_are_refused(extra, needle):
    with pytest.raises(InvalidConfig, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_run_config({}, {**TINY, **extra})


def test_an_update_outside_the_clipping_range_is_an_error_not_clipped():
    old = {"w": np.zeros(3, np.float32)}
    with pytest.raises(InvalidConfig, match=r"secagg-clipping-range=0\.5"):
        secure_module.update_to_send({"w": np.array([0.1, -0.7, 0.0])}, old, 0.5)


def test_a_weight_above_max_weight_is_refused_on_the_client():
    from flwr.app import ConfigRecord, Context, RecordDict
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_STATE

    state = RecordDict({RECORD_KEY_STATE: ConfigRecord({"max_weight": 100.0})})
    context = Context(run_id=1, node_id=1, node_config={}, state=state, run_config={})
    secure_module.check_weight(context, 100)
    with pytest.raises(InvalidConfig, match="max_weight 100"):
        secure_module.check_weight(context, 101)
