"""The Flower app's privacy contract, tried as a hostile server and a careful client would.

* every value in every client reply is on the documented list of accounted or public fields;
* a client refuses a run beyond the limits in its node_config, and the seeded test mode
  without its consent;
* a restarted client (fresh Flower context) keeps its spent budget;
* federated evaluation on client data is refused in a private run;
* under client-level DP the report does not say who took part;
* the seeded test mode is labelled NOT PRIVATE in the report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from qfed.errors import InvalidConfig
from qfed.ledger import ClientLedger

from qflower.client_app import NODE_KEYS, RELEASED_FIELDS, build_client_app, state_to_arrays
from qflower.client_app import app as client_app
from qflower.config import config_to_json, parse_run_config
from qflower.local import LocalGrid
from qflower.server_app import run_server

DOCS = Path(__file__).resolve().parents[3] / "docs" / "qfed.md"

TINY = {
    "model": "tiny",
    "num-clients": 3,
    "clients-per-round": 2,
    "rounds": 2,
    "max-examples-per-client": 32,
    "max-test-examples": 32,
    "max-length": 16,
    "batch-size": 8,
    "partition": "iid",
}


def _grid(tmp: Path, **node) -> LocalGrid:
    return LocalGrid(client_app, 3, node_config={"state-dir": str(tmp / "ledgers"), **node})


def _run(grid: LocalGrid, tmp: Path, name: str, **extra) -> dict:
    overrides = {**TINY, "output-dir": str(tmp / name), **extra}
    return run_server(grid, {}, overrides, echo=lambda line: None)


def _released(reply: Message) -> list[str]:
    """Every value in a reply, named as RELEASED_FIELDS names them."""
    kind = reply.metadata.message_type
    names = []
    for record_name, record in reply.content.items():
        if isinstance(record, ArrayRecord):
            names.append(f"{kind}.{record_name}.*")
        elif isinstance(record, MetricRecord):
            names += [f"{kind}.{record_name}.{key}" for key in record]
        elif isinstance(record, ConfigRecord):
            for key, value in record.items():
                if key != "json":
                    names.append(f"{kind}.{record_name}.{key}")
                    continue
                names += [f"{kind}.{record_name}.{k}" for k in json.loads(str(value))]
        else:  # a record type nobody listed
            names.append(f"{kind}.{record_name}.<{type(record).__name__}>")
    return names


@pytest.mark.parametrize("dp", ["sample", "client"])
def test_every_reply_field_is_accounted_or_public(tmp_path, dp):
    grid = _grid(tmp_path, **({"trust-server": True} if dp == "client" else {}))
    extra = {"dp": dp, "selection": "random"} if dp == "client" else {}
    _run(grid, tmp_path, "run", **extra)
    kinds = {r.metadata.message_type for r in grid.received if not r.has_error()}
    assert kinds == {MessageType.QUERY, MessageType.TRAIN} or dp == "client"
    seen = set()
    for reply in grid.received:
        assert not reply.has_error(), reply.error.reason
        seen.update(_released(reply))
    unlisted = sorted(seen - set(RELEASED_FIELDS))
    assert not unlisted, f"reply fields no accountant covers and nobody declared public: {unlisted}"
    assert "train.report.num_examples" in seen and "query.profile.label_counts" in seen


def test_the_released_fields_and_node_keys_are_documented():
    text = DOCS.read_text()
    for name in RELEASED_FIELDS:
        assert f"`{name}`" in text, f"docs/qfed.md does not list the released field {name}"
    for key in NODE_KEYS:
        assert f"`{key}`" in text, f"docs/qfed.md does not document node_config key {key}"


def test_client_refuses_a_server_asking_beyond_its_limits(tmp_path):
    with pytest.raises(InvalidConfig, match="max-epsilon"):
        _run(_grid(tmp_path, **{"max-epsilon": 4.0}), tmp_path, "greedy-server")
    with pytest.raises(InvalidConfig, match="allow-seeded-noise"):
        _run(_grid(tmp_path), tmp_path, "seeded", **{"insecure-seeded-noise": True})
    # a server cannot switch privacy off: raw updates only go to a server the node trusts
    for dp in ("none", "client"):
        with pytest.raises(InvalidConfig, match="trust-server"):
            _run(_grid(tmp_path), tmp_path, f"switch-off-{dp}", dp=dp, selection="random")
    with pytest.raises(InvalidConfig, match=r"unknown node_config key.*max-epsilom"):
        _run(_grid(tmp_path, **{"max-epsilom": 4.0}), tmp_path, "typo")
    # the limit holds: a run that asks for what the node pinned goes through
    report = _run(_grid(tmp_path, **{"max-epsilon": 4.0}), tmp_path, "ok", epsilon=4.0)
    assert report["final"]["epsilon_max"] <= 4.0 + 1e-9


def test_a_restarted_client_keeps_its_ledger(tmp_path):
    first = _run(_grid(tmp_path), tmp_path, "first")
    spent = {pid: float(e) for row in first["rounds"] for pid, e in row["client_epsilon"].items()}
    # every node restarts (new Flower contexts, nothing in memory); the ledgers are on disk
    second = _run(_grid(tmp_path), tmp_path, "second")
    for row in second["rounds"]:
        for pid, eps in row["client_epsilon"].items():
            assert float(eps) >= spent.get(pid, 0.0) - 1e-12  # never a fresh budget
    ledgers = sorted((tmp_path / "ledgers").glob("ledger-partition-*.json"))
    assert len(ledgers) == 3
    assert max(ClientLedger.load(p).epsilon(1e-5) for p in ledgers) <= 8.0 + 1e-9


def test_federated_evaluation_on_client_data_is_refused_when_private(tmp_path):
    with pytest.raises(InvalidConfig, match="evaluate-clients"):
        parse_run_config({}, {**TINY, "evaluate-clients": 1})
    parse_run_config({}, {**TINY, "evaluate-clients": 1, "dp": "none"})
    # and the client refuses on its own, whatever a server sends
    config, _ = parse_run_config({}, TINY)
    from qfed.task import FederatedTask

    arrays = state_to_arrays(FederatedTask(config).build_model().trainable_state())
    grid = _grid(tmp_path)
    content = RecordDict(
        {"arrays": arrays, "config": ConfigRecord({"task": config_to_json(config)})}
    )
    message = Message(content, 1, MessageType.EVALUATE)
    (reply,) = grid.send_and_receive([message])
    assert reply.has_error() and "federated evaluation" in reply.error.reason


def test_client_level_report_does_not_name_participants(tmp_path):
    trusting = _grid(tmp_path, **{"trust-server": True})
    report = _run(trusting, tmp_path, "client", dp="client", selection="random")
    for row in report["rounds"]:
        assert not {
            "selected",
            "replied",
            "failed",
            "client_epsilon",
            "train_examples",
            "bytes_sent",
            "bytes_received",
        } & set(row)
    assert "bytes_sent" not in report and report["private"] is True
    assert "client-level" in report["guarantee"]
    saved = (tmp_path / "client" / "report.json").read_text()
    assert '"selected"' not in saved
    with pytest.raises(InvalidConfig, match="client-level DP does not hold"):
        _run(_grid(tmp_path), tmp_path, "qubo", dp="client", selection="qubo")


def test_seeded_test_mode_is_labelled_not_private(tmp_path):
    grid = _grid(tmp_path, **{"allow-seeded-noise": True})
    report = _run(grid, tmp_path, "seeded", **{"insecure-seeded-noise": True})
    assert report["private"] is False
    assert any("seeded" in r for r in report["not_private_reasons"])
    assert report["guarantee"].startswith("NOT PRIVATE")
    assert all(row["private"] is False for row in report["rounds"])


def test_the_main_job_default_is_private_and_says_what_it_covers():
    config, _ = parse_run_config({})
    assert config.not_private_reasons == [] and not config.insecure_seeded_noise
    from qflower.strategy import guarantee_text

    text = guarantee_text(config)
    assert re.search(r"sample-level \(8, 1e-05\)-DP", text) and "server" in text


def test_build_client_app_defaults_apply_under_node_config(tmp_path):
    strict = build_client_app({"max-epsilon": 2.0})
    grid = LocalGrid(strict, 3, node_config={"state-dir": str(tmp_path)})
    with pytest.raises(InvalidConfig, match="max-epsilon"):
        _run(grid, tmp_path, "strict")


def test_simulate_refuses_what_its_nodes_would_refuse_before_starting_ray(tmp_path):
    from qfed.errors import PolicyRefused

    from qflower.local import simulate

    with pytest.raises(PolicyRefused, match="max-epsilon"):
        simulate({**TINY, "output-dir": str(tmp_path)}, node_config={"max-epsilon": 4.0})
    with pytest.raises(PolicyRefused, match="allow-seeded-noise"):
        simulate({**TINY, "insecure-seeded-noise": True, "output-dir": str(tmp_path)})
