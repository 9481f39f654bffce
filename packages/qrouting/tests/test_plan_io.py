"""JSON export, the file loader and the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import qrouting
from qrouting.cli import main
from qrouting.loader import load_problem


def test_plan_json_round_trip(tmp_path: Path) -> None:
    plan = qrouting.route(np.random.default_rng(0).standard_normal((20, 4)), "topk", k=2)
    path = tmp_path / "plan.json"
    plan.to_json(path)
    back = qrouting.RoutingPlan.from_json(path)
    assert np.array_equal(back.indices, plan.indices)
    np.testing.assert_allclose(back.gates, plan.gates)
    assert back.metrics == pytest.approx(plan.metrics)
    data = json.loads(path.read_text())
    assert data["loads"] == plan.loads.tolist()
    assert data["dropped_tokens"] == plan.dropped_tokens.tolist()
    assert qrouting.RoutingPlan.from_json(plan.to_json()).router == "topk"


def write_tokens_json(path: Path, logits: np.ndarray, devices: list[int]) -> None:
    tokens = [
        {"id": 100 + i, "device": devices[i], "logits": row.tolist()}
        for i, row in enumerate(logits)
    ]
    path.write_text(json.dumps({"tokens": tokens}))


def test_loader_json_with_graph(tmp_path: Path) -> None:
    logits = np.random.default_rng(1).standard_normal((12, 4))
    write_tokens_json(tmp_path / "t.json", logits, [i % 2 for i in range(12)])
    graph = {
        "num_experts": 4,
        "k": 2,
        "capacity_factor": 1.0,
        "expert_device": [0, 0, 1, 1],
        "cost_per_hop": 0.5,
    }
    (tmp_path / "g.json").write_text(json.dumps(graph))
    problem = load_problem(tmp_path / "t.json", tmp_path / "g.json")
    assert problem.k == 2 and problem.capacity == 6
    assert problem.token_ids is not None and problem.token_ids[0] == 100
    plan = qrouting.route(problem, "balanced")
    assert plan.metrics["cross_node_traffic"] == 0.0  # 0.5 per hop beats any affinity gain


def test_loader_csv(tmp_path: Path) -> None:
    logits = np.random.default_rng(2).standard_normal((5, 3))
    with (tmp_path / "t.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "logit_0", "logit_1", "logit_2"])
        for i, row in enumerate(logits):
            w.writerow([i, *row])
    problem = load_problem(tmp_path / "t.csv", k=1, capacity_factor=2.0)
    np.testing.assert_allclose(problem.logits, logits)
    assert problem.capacity == 4


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{", "not valid JSON"),
        ('{"tokens": []}', "no token list"),
        ('[{"id": 1}]', "'logits'"),
        ('[{"logits": [1, 2]}, {"logits": [1]}]', "same length"),
    ],
)
def test_loader_errors(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "t.json").write_text(content)
    with pytest.raises(qrouting.InvalidRouting, match=match):
        load_problem(tmp_path / "t.json")


def test_loader_graph_errors(tmp_path: Path) -> None:
    write_tokens_json(tmp_path / "t.json", np.zeros((3, 2)), [0, 0, 0])
    (tmp_path / "g.json").write_text(json.dumps({"num_experts": 3}))
    with pytest.raises(qrouting.InvalidRouting, match="must agree"):
        load_problem(tmp_path / "t.json", tmp_path / "g.json")
    (tmp_path / "g.json").write_text(json.dumps({"num_experts": 2, "colour": 1}))
    with pytest.raises(qrouting.InvalidRouting, match="unknown fields"):
        load_problem(tmp_path / "t.json", tmp_path / "g.json")
    with pytest.raises(qrouting.InvalidRouting, match="does not exist"):
        load_problem(tmp_path / "missing.json")


def test_cli_route_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tokens_json(
        tmp_path / "t.json", np.random.default_rng(3).standard_normal((8, 4)), [0] * 8
    )
    out = tmp_path / "plan.json"
    assert (
        main(["route", str(tmp_path / "t.json"), "-k", "2", "--out", str(out), "--compare-exact"])
        == 0
    )
    assert "balanced" in capsys.readouterr().out
    assert json.loads(out.read_text())["metrics"]["gap_to_optimum"] == pytest.approx(0, abs=1e-9)
    assert main(["route", str(tmp_path / "t.json"), "-k", "9"]) == 2
    assert "larger than the number of experts" in capsys.readouterr().err
    assert main(["routers"]) == 0
    assert "balanced" in capsys.readouterr().out


def test_cli_bench_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--tokens",
            "512",
            "--experts",
            "8",
            "--repeats",
            "1",
            "--routers",
            "topk,balanced,sinkhorn",
            "--json",
            str(path),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "tokens/s" in text and "balanced" in text
    result = json.loads(path.read_text())
    bal = result["routers"]["balanced"]
    assert bal["max_vio"] == 0.0
    assert 0 <= bal["gap_to_optimum"] <= bal["certified_gap"] + 1e-12
    assert result["routers"]["topk"]["gap_to_optimum"] >= 0
