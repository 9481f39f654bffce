"""End-to-end tests of the Flower app with the tiny model.

Most runs use ``LocalGrid`` (the real ServerApp logic and ClientApp, messages passed in this
process) so they are fast and deterministic; one test runs the same apps on Flower's
Simulation Engine (Ray) through ``run_simulation``.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from qfed.errors import InvalidConfig
from qfed.ledger import ClientLedger
from qfed.task import FedConfig

from qflower.client_app import app as client_app
from qflower.config import DEFAULTS, FED_DEFAULTS, parse_run_config
from qflower.local import LocalGrid
from qflower.report import load_checkpoint, load_released_model
from qflower.server_app import run_server

APP_DIR = Path(__file__).resolve().parents[1]

TINY = {
    "model": "tiny",
    "num-clients": 3,
    "clients-per-round": 3,
    "rounds": 2,
    "max-examples-per-client": 48,
    "max-test-examples": 64,
    "max-length": 24,
    "batch-size": 16,
    "partition": "iid",
}


def _run(tmp: Path, name: str, nodes: int = 3, node_config: dict | None = None, **extra) -> dict:
    overrides = {**TINY, "output-dir": str(tmp / name), **extra}
    # the nodes' privacy ledgers live in tmp/ledgers (shared by the runs of one tmp folder,
    # as one machine's nodes keep theirs across runs)
    grid = LocalGrid(
        client_app, nodes, node_config={"state-dir": str(tmp / "ledgers"), **(node_config or {})}
    )
    return run_server(grid, {}, overrides, echo=lambda line: None)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """Two rounds, 3 clients, partition 2 raising in train every round."""
    tmp = tmp_path_factory.mktemp("qflower")
    return tmp, _run(tmp, "run1", **{"fail-clients": "2"})


def test_defaults_are_the_pyproject_run_config():
    table = tomllib.loads((APP_DIR / "pyproject.toml").read_text())["tool"]["flwr"]
    assert table["app"]["config"] == DEFAULTS
    assert {k.replace("-", "_") for k in FED_DEFAULTS} == {f.name for f in fields(FedConfig)}
    config, app = parse_run_config({})
    assert config.num_clients == 10 and config.model == "minilm"
    assert app.fail_clients == ()


def test_bad_run_config_is_refused_clearly():
    with pytest.raises(InvalidConfig, match=r"unknown run-config key.*'num-rounds'"):
        parse_run_config({"num-rounds": 3})
    with pytest.raises(InvalidConfig, match=r"clients_per_round .*cannot exceed num_clients"):
        parse_run_config({}, {"num-clients": 3, "clients-per-round": 4})
    with pytest.raises(InvalidConfig, match="fail-clients"):
        parse_run_config({}, {"fail-clients": "x"})


def test_run_trains_reports_and_survives_a_failing_client(first_run):
    tmp, report = first_run
    out = tmp / "run1"
    rows = report["rounds"]
    assert [r["round"] for r in rows] == [1, 2]
    for row in rows:
        assert 2 in row["selected"] and row["failed"] == [2]  # it raised; the round went on
        assert sorted(row["replied"]) == [0, 1]
        assert 0.0 <= row["accuracy"] <= 1.0 and math.isfinite(row["loss"])
        assert row["bytes_sent"] > 0 and row["bytes_received"] > 0
        assert "fails on purpose" in row["errors"][0]
    # sample-level DP: finite, growing with rounds, within the budget
    eps = [r["epsilon_max"] for r in rows]
    assert all(math.isfinite(e) and e > 0 for e in eps)
    assert eps[1] > eps[0]
    assert eps[1] <= 8.0 + 1e-6
    assert report["final"]["accuracy"] == rows[-1]["accuracy"]
    # outputs
    saved = json.loads((out / "report.json").read_text())
    assert saved["final"]["round"] == 2 and len(saved["rounds"]) == 2
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state, tensors = load_checkpoint(out)
    assert state["round"] == 2 and "accountants" not in state  # the server keeps no budgets
    # each client's ledger is on its own node, and says what the client reported
    for pid in (0, 1):
        ledger = ClientLedger.load(tmp / "ledgers" / f"ledger-partition-{pid}.json")
        assert ledger.rounds_trained == 2
        assert ledger.epsilon(1e-5) == pytest.approx(rows[-1]["client_epsilon"][str(pid)])
    # the global LoRA tensors moved away from their (seeded) initialisation
    from qfed.task import FederatedTask

    initial = FederatedTask(parse_run_config({}, TINY)[0]).build_model().trainable_state()
    assert set(tensors) == set(initial)
    assert any(not np.allclose(tensors[k], initial[k]) for k in initial)
    # the released model (model.npz) is the tail average the report measured: rounds 1-2
    assert rows[-1]["released_from_rounds"] == [1, 2]
    released = load_released_model(out)
    assert released is not None and set(released) == set(tensors)
    assert any(not np.allclose(released[k], tensors[k]) for k in tensors)
    tail = state["server"]["recent_states"]
    assert len(tail) == 2
    for name, value in released.items():
        expected = (np.asarray(tail[0][name]) + np.asarray(tail[1][name])) / 2
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-7)


def test_resume_continues_at_the_next_round(first_run):
    tmp, _ = first_run
    report = _run(tmp, "run2", rounds=3, **{"resume-from": str(tmp / "run1")})
    rows = report["rounds"]
    assert [r["round"] for r in rows] == [1, 2, 3]
    assert rows[:2] == json.loads((tmp / "run1" / "report.json").read_text())["rounds"]
    # the clients' ledgers live on the nodes: epsilon never restarts at 0
    assert rows[2]["epsilon_max"] >= rows[1]["epsilon_max"]
    assert load_checkpoint(tmp / "run2")[0]["round"] == 3


def test_resume_refuses_another_split(first_run):
    tmp, _ = first_run
    with pytest.raises(InvalidConfig, match="seed"):
        _run(tmp, "run3", rounds=3, seed=5, **{"resume-from": str(tmp / "run1")})


def test_num_partitions_must_match_num_clients(tmp_path):
    with pytest.raises(InvalidConfig, match=r"num-partitions is 2 .* num-clients=3"):
        _run(tmp_path, "bad", nodes=2)


@pytest.mark.slow  # Ray start-up alone takes ~30 s on a busy 2-core machine
@pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
def test_simulation_engine_runs_the_apps_with_a_failing_client(tmp_path):
    """The same apps on Flower's Simulation Engine (Ray), through ``python -m qflower``."""
    from qflower.__main__ import main

    out = tmp_path / "ray"
    overrides = {
        **TINY,
        "num-clients": 2,
        "clients-per-round": 2,
        "rounds": 1,
        "fail-clients": "1",
        "output-dir": str(out),
    }
    args = " ".join(f"{k}={json.dumps(v)}" for k, v in overrides.items())
    assert main(["--run-config", args, "--num-cpus", "2"]) == 0
    report = json.loads((out / "report.json").read_text())
    (row,) = report["rounds"]
    assert row["replied"] == [0] and row["failed"] == [1]
    assert math.isfinite(row["epsilon_max"]) and 0.0 <= row["accuracy"] <= 1.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("round-timeout", "x"),
        ("secagg-shares", "abc"),
        ("min-train-replies", 1.5),
        ("torch-threads", True),
        ("evaluate-clients", "two"),
    ],
)
def test_app_numbers_that_are_not_numbers_name_the_key(key, value):
    with pytest.raises(InvalidConfig, match=key):
        parse_run_config({}, {key: value})
