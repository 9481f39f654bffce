"""The loader and the command line refuse what they cannot read exactly: one line naming the
field (or file and line) and the fix, exit code 2, never a traceback or a changed value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qrouting
from qrouting.cli import main
from qrouting.loader import load_graph, load_problem, load_tokens

ROWS = [[0.1, 0.5, -0.2], [1.0, 0.0, 0.3], [0.2, 0.2, 0.9], [-1.0, 0.4, 0.0]]


def tokens_json(path: Path, rows: object = None, **fields: object) -> Path:
    rows = ROWS if rows is None else rows
    tokens = [
        {"id": 10 + i, "device": i % 2, "logits": r}
        for i, r in enumerate(rows)  # type: ignore
    ]
    for key, values in fields.items():
        for token, value in zip(tokens, values, strict=False):  # type: ignore[call-overload]
            if value is ...:
                token.pop(key, None)
            else:
                token[key] = value
    path.write_text(json.dumps({"tokens": tokens}))
    return path


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"id": [1.5]}, r"tokens\[0\].id: 1.5; it must be an integer \(never rounded\)"),
        ({"id": [2.0]}, r"tokens\[0\].id: 2.0"),
        ({"id": ["a"]}, r"tokens\[0\].id: 'a'"),
        ({"id": [True]}, r"tokens\[0\].id: True"),
        ({"id": [2**70]}, r"tokens\[0\].id"),
        ({"id": [7, 8, 7, 9]}, r"id 7 is given to tokens\[0\] and tokens\[2\]"),
        ({"id": [1, ...]}, r"tokens\[1\].id: missing, but other tokens have one"),
        ({"device": [-1]}, r"tokens\[0\].device: -1; it must be an integer device id >= 0"),
        ({"device": [0.5]}, r"tokens\[0\].device: 0.5"),
        ({"logits": [[1, "2", 3]]}, r"tokens\[0\].logits: 2 is not a finite number"),
        ({"logits": [[1, True, 3]]}, r"tokens\[0\].logits: True is not a finite number"),
        ({"logits": [[1, 2]]}, r"tokens\[0\].logits: 2 scores but tokens\[0\] has 3|scores but"),
        ({"logits": [1.0]}, r"tokens\[0\].logits: expected a non-empty list"),
        ({"logitz": [[1, 2, 3]]}, r"tokens\[0\]: unknown fields \['logitz'\]"),
        ({"affinity": [[1, 2, 3]]}, r"tokens\[0\]: give exactly one of 'logits' or 'affinity'"),
    ],
)
def test_token_fields_are_checked(tmp_path: Path, fields: dict, match: str) -> None:
    path = tokens_json(tmp_path / "t.json", **fields)
    with pytest.raises(qrouting.InvalidRouting, match=match):
        load_tokens(path)


def test_mixed_kinds_and_top_level_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"logits": [1, 2]}, {"affinity": [1, 2]}]))
    with pytest.raises(qrouting.InvalidRouting, match=r"tokens\[1\]: has 'affinity' but"):
        load_tokens(path)
    path.write_text(json.dumps({"tokens": [{"logits": [1, 2]}], "k": 2}))
    with pytest.raises(qrouting.InvalidRouting, match=r"unknown fields \['k'\]"):
        load_tokens(path)
    path.write_text('{"tokens": [{"logits": [NaN, 1]}]}')
    with pytest.raises(qrouting.InvalidRouting, match="NaN is not a JSON number"):
        load_tokens(path)
    path.write_text("[" * 50_000)
    with pytest.raises(qrouting.InvalidRouting, match=r"nested too deeply|not valid JSON"):
        load_tokens(path)


def test_binary_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "blob.json").write_bytes(bytes(range(256)))
    with pytest.raises(qrouting.InvalidRouting, match="not UTF-8 text"):
        load_tokens(tmp_path / "blob.json")
    (tmp_path / "nul.csv").write_bytes(b"logit_0\n1\x00\n")
    with pytest.raises(qrouting.InvalidRouting, match="NUL bytes"):
        load_tokens(tmp_path / "nul.csv")
    with pytest.raises(qrouting.InvalidRouting, match="is a folder"):
        load_tokens(tmp_path)
    with pytest.raises(qrouting.InvalidRouting, match="is a folder"):
        load_graph(tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("logit_0,logit_1\n1,2,3\n", "line 2: 3 cells but the header has 2"),
        ("logit_0,logit_1\n1\n", "line 2: 1 cells but the header has 2"),
        ("logit_0,affinity_1\n1,2\n", "mixes score columns"),
        ("e0,affinity_1\n1,2\n", "mixes score columns"),
        ("id,logit_0\n1.5,2\n", "column 'id': '1.5' is not an integer"),
        ("id,logit_0\n1,2\n1,3\n", "id 1 is given to line 2 and line 3"),
        ("device,logit_0\n-1,2\n", "device -1 is negative"),
        ("device,logit_0\nx,2\n", "column 'device': 'x' is not an integer"),
        ("logit_0,logit_1\n1,nan\n", "column 'logit_1': 'nan'; every score must be finite"),
        ("logit_0,logit_1\n1,1_0\n", "column 'logit_1': '1_0' is not a number"),
        ("logit_0,logit_1\n1,1e999\n", "overflows"),
        ("logit_0,,logit_1\n1,2,3\n", "header column 2 has no name"),
        ("id,logit_0,ID\n1,2,3\n", "names column 'id' twice"),
        ("id,device\n1,2\n", "no score columns"),
        ("logit_0\n", "needs a header row and at least one token"),
    ],
)
def test_csv_is_read_exactly_or_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(qrouting.InvalidRouting, match=match):
        load_tokens(path)


def test_csv_reads_ids_devices_and_affinities(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,device,affinity_0,affinity_1\n7,0,0.5,0.25\n-3,1,0,1\n")
    tok = load_tokens(path)
    assert tok["scores_are"] == "affinity" and tok["ids"].tolist() == [7, -3]
    assert tok["devices"].tolist() == [0, 1]
    np.testing.assert_array_equal(tok["scores"], [[0.5, 0.25], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        ({"num_experts": 3, "k": 1.5}, r"graph.k: 1.5; it must be an integer >= 1"),
        ({"num_experts": 3, "k": 2.0}, r"graph.k: 2.0"),
        ({"num_experts": 3, "k": "2"}, r"graph.k: '2'"),
        ({"num_experts": "3"}, r"graph.num_experts: '3'"),
        ({"num_experts": 3.0}, r"graph.num_experts: 3.0"),
        ({"num_experts": 3, "capacity_factor": "1.25"}, r"graph.capacity_factor: '1.25'"),
        ({"num_experts": 3, "capacity_factor": True}, r"graph.capacity_factor: True"),
        ({"num_experts": 3, "capacity": 2.5}, r"graph.capacity: 2.5"),
        ({"num_experts": 3, "on_overflow": 5}, r"graph.on_overflow: 5"),
        ({"num_experts": 3, "name": 5}, r"graph.name: 5"),
        ({"num_experts": 3, "expert_device": "abc"}, r"graph.expert_device: abc"),
        ({"num_experts": 3, "expert_device": [0, 0.5, 1]}, r"graph.expert_device"),
        ({"num_experts": 3, "expert_device": [0, -1, 1]}, r"graph.expert_device"),
        ({"num_experts": 3, "expert_device": [0, 1]}, r"2 entries for num_experts=3"),
        ({"num_experts": 3, "cost_per_hop": 0.1}, r"graph.cost_per_hop: needs graph.expert_dev"),
        ({"num_experts": 3, "hops": [[0]]}, r"graph.hops: needs graph.expert_device"),
        (
            {"num_experts": 3, "expert_device": [0, 1, 1], "hops": [[0, 1], [1]]},
            "graph.hops: .*square",
        ),
        (
            {"num_experts": 3, "expert_device": [0, 1, 1], "hops": [[0, "1"], [1, 0]]},
            "graph.hops",
        ),
        (
            {"num_experts": 3, "expert_device": [0, 1, 5], "hops": [[0, 1], [1, 0]]},
            r"locality.hops: expected a square \[D, D\] matrix with D >= 6",
        ),
        (
            {"num_experts": 3, "expert_device": [0, 1, 1], "cost_per_hop": [1]},
            r"graph.cost_per_hop: \[1\]",
        ),
    ],
)
def test_graph_fields_are_typed(tmp_path: Path, graph: dict, match: str) -> None:
    tokens = tokens_json(tmp_path / "t.json")
    (tmp_path / "g.json").write_text(json.dumps(graph))
    with pytest.raises(qrouting.InvalidRouting, match=match):
        load_problem(tokens, tmp_path / "g.json")


def test_overrides_are_named(tmp_path: Path) -> None:
    tokens = tokens_json(tmp_path / "t.json")
    with pytest.raises(qrouting.InvalidRouting, match=r"unknown settings \['kk'\]"):
        load_problem(tokens, kk=2)
    with pytest.raises(qrouting.InvalidRouting, match=r"k: 1.5"):
        load_problem(tokens, k=1.5)


def test_huge_device_ids_need_no_huge_matrix(tmp_path: Path) -> None:
    # the default hop matrix is never built densely: device ids up to 2^62 cost nothing
    tokens = tokens_json(tmp_path / "t.json", device=[2**62, 0, 2**62, 1])
    (tmp_path / "g.json").write_text(
        json.dumps({"num_experts": 3, "expert_device": [0, 1, 2**62], "cost_per_hop": 0.5})
    )
    problem = load_problem(tokens, tmp_path / "g.json")
    assert problem.locality is not None
    assert problem.locality.hop_matrix().tolist()[0] == [1.0, 1.0, 0.0]


def test_python_api_refuses_float_ids_and_string_numbers() -> None:
    with pytest.raises(qrouting.InvalidRouting, match="token_ids: expected a 1-D array of int"):
        qrouting.RoutingProblem.from_scores(np.zeros((2, 2)), 1, token_ids=[1.5, 2.0])
    with pytest.raises(qrouting.InvalidRouting, match="float array"):
        qrouting.RoutingProblem.from_scores([["1", "2"]], 1)
    with pytest.raises(qrouting.InvalidRouting, match="float array"):
        qrouting.RoutingProblem.from_scores([[True, False]], 1)
    with pytest.raises(qrouting.InvalidRouting, match="capacity_factor: True"):
        qrouting.RoutingProblem.from_scores(np.zeros((2, 2)), 1, True)  # type: ignore[arg-type]
    with pytest.raises(qrouting.InvalidRouting, match=r"locality.hops"):
        qrouting.Locality(np.zeros(2, int), np.zeros(2, int), hops=[[0, 1], [1]])
    with pytest.raises(qrouting.InvalidRouting, match=r"locality.token_device"):
        qrouting.Locality([[0], [1, 2]], np.zeros(2, int))
    with pytest.raises(qrouting.InvalidRouting, match=r"locality.cost_per_hop: '0.1'"):
        qrouting.Locality(np.zeros(2, int), np.zeros(2, int), cost_per_hop="0.1")  # type: ignore
    big = np.array([2**40 + 1, 3], dtype=np.int64)  # ids above 2^24 would not survive float32
    plan = qrouting.route(np.zeros((2, 2)), "hash", token_ids=big)
    assert plan.token_ids is not None and plan.token_ids.tolist() == big.tolist()


# --------------------------------------------------------------------------- command line


def one_line(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert "internal error" not in captured.err
    for word in words:
        assert word in lines[0], lines[0]
    return captured.out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["route", "{t}", "--out", "{tmp}/missing/plan.json"], ["--out", "does not exist"]),
        (["route", "{t}", "--out", "{tmp}"], ["--out", "is a folder"]),
        (["route", "{t}", "--router", "nope"], ["router: no router named 'nope'"]),
        (["route", "{tmp}"], ["is a folder"]),
        (["route", "{blob}"], ["not UTF-8 text"]),
        (["route", "{t}", "-k", "x"], ["argument -k: invalid int value: 'x'"]),
        (["route", "{t}", "-k", "0"], ["k: 0"]),
        (["route", "{t}", "--capacity-factor", "nan"], ["capacity_factor: nan"]),
        (["route", "{t}", "--graph", "{tmp}/nope.json"], ["graph: file", "does not exist"]),
        (["bench", "--tokens", "0"], ["--tokens 0"]),
        (["bench", "--tokens", "-5"], ["--tokens -5"]),
        (["bench", "--experts", "0"], ["--experts 0"]),
        (["bench", "--repeats", "0"], ["--repeats 0"]),
        (["bench", "--tokens", "100000000"], ["exceed the benchmark's limit"]),
        (["bench", "-k", "99", "--experts", "4"], ["-k 99"]),
        (["bench", "--capacity-factor", "inf"], ["--capacity-factor inf"]),
        (["bench", "--routers", "topk,nope"], ["unknown nope"]),
        (["bench", "--routers", ","], ["--routers"]),
        (["bench", "--seed", "-1"], ["--seed -1"]),
        (["bench", "--tokens", "64", "--json", "{tmp}/no/r.json"], ["--json", "does not exist"]),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    tokens_json(tmp_path / "t.json")
    (tmp_path / "blob.json").write_bytes(bytes(range(256)))
    names = {"{t}": tmp_path / "t.json", "{blob}": tmp_path / "blob.json", "{tmp}": tmp_path}
    for key, value in names.items():
        argv = [a.replace(key, str(value)) for a in argv]
    out = one_line(capsys, main(argv), *words)
    assert "max_vio" not in out  # nothing was routed before the error


def test_cli_compare_exact_prints_the_optimum_and_the_plan_keeps_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tokens_json(tmp_path / "t.json")
    out = tmp_path / "plan.json"
    assert (
        main(["route", str(tokens), "--router", "topk", "--compare-exact", "--out", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert "exact optimum=" in text and "gap_to_optimum=" in text
    plan = json.loads(out.read_text())
    assert plan["token_ids"] == [10, 11, 12, 13]
    assert qrouting.RoutingPlan.from_json(out).token_ids.tolist() == [10, 11, 12, 13]


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"router": "x"}, "are missing"),
        ("[1]", "expected a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_damaged_plan_files_are_named(tmp_path: Path, record: object, match: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    with pytest.raises(qrouting.InvalidRouting, match=match):
        qrouting.RoutingPlan.from_json(path)


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("topk", {"normalize_gates": "no"}, "normalize_gates: 'no'; pass True or False"),
        ("sinkhorn", {"refill": 0}, "refill: 0; pass True or False"),
        ("bias", {"update": None}, "update: None"),
        ("qubo", {"fallback": "sa", "solver_params": [1]}, r"solver_params: \[1\]"),
        ("qubo", {"fallback": [1]}, r"fallback: \[1\]"),
        ("qubo", {"seed": -1}, "seed: -1"),
        ("qubo", {"seed": 1.5}, "seed: 1.5"),
    ],
)
def test_router_options_are_not_coerced(name: str, options: dict, match: str) -> None:
    with pytest.raises(qrouting.InvalidRouting, match=match):
        qrouting.get_router(name, **options)


def test_a_single_fallback_name_is_one_name() -> None:
    assert qrouting.get_router("qubo", fallback="sa").fallback == ("sa",)


def test_capacities_beyond_int64_are_named() -> None:
    logits = np.zeros((6, 3))
    with pytest.raises(
        qrouting.InvalidRouting, match="capacity: 1000000000000000000000000000000 is above"
    ):
        qrouting.route(logits, "topk", capacity=10**30)
    with pytest.raises(qrouting.InvalidRouting, match="already means no limit"):
        qrouting.route(logits, "topk", capacity_factor=1e300)
    assert qrouting.route(logits, "topk", capacity=2**62).metrics["drop_fraction"] == 0.0
    with pytest.raises(qrouting.InvalidRouting, match="overflows"):
        qrouting.Locality(np.zeros(2, int), np.zeros(2, int), 1e308, hops=[[0, 1e10], [1, 0]])
