"""The token (JSON, CSV) and model-graph readers under hypothesis: random bytes, truncations,
mutated valid files and huge values. Property: a one-line ``InvalidRouting``, or exactly what
the file says (checked against a plain re-reading); never another exception, memory bounded."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qrouting
from qrouting.cli import main
from qrouting.loader import load_problem, load_tokens

MEMORY_LIMIT = 64 * 2**20
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOKENS_JSON = json.dumps(
    {
        "tokens": [
            {"id": 7, "device": 0, "logits": [0.5, -1.0, 2.0]},
            {"id": 9, "device": 1, "logits": [1e-3, 0, 3]},
            {"id": -2, "device": 1, "logits": [1, 1, 1]},
        ]
    }
)
TOKENS_CSV = "id,device,logit_0,logit_1,logit_2\n7,0,0.5,-1.0,2.0\n9,1,1e-3,0,3\n-2,1,1,1,1\n"
GRAPH = json.dumps(
    {
        "num_experts": 3,
        "k": 2,
        "capacity_factor": 1.5,
        "expert_device": [0, 1, 1],
        "hops": [[0, 1], [1, 0]],
        "cost_per_hop": 0.25,
        "on_overflow": "drop",
        "name": "tiny",
    }
)
INTERESTING = b'0123456789 -+.,\neE"[]{}:tnulaf'


@st.composite
def mutated(draw: st.DrawFn, valid: str) -> bytes:
    data = bytearray(valid.encode())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.sampled_from([*INTERESTING, 0, 255]))
        elif op == "insert":
            data[at:at] = bytes([draw(st.sampled_from(list(INTERESTING)))])
        elif op == "delete" and data:
            del data[at]
        elif op == "duplicate" and data:
            end = draw(st.integers(at, min(len(data), at + 16)))
            data[at:at] = data[at:end]
    return bytes(data)


def inputs(valid: str) -> st.SearchStrategy[bytes]:
    encoded = valid.encode()
    big = st.sampled_from(["1e400", str(2**64), str(-(2**63) - 1), "1e308", "99999999999999999"])
    return st.one_of(
        st.binary(max_size=200),
        st.integers(0, len(encoded)).map(lambda k: encoded[:k]),
        mutated(valid),
        big.map(lambda number: valid.replace("0.5", number, 1).encode()),
        big.map(lambda number: valid.replace("9", number, 1).encode()),
    )


def bounded(call: Callable[[], object]) -> object:
    """``call()``; a one-line InvalidRouting becomes None; memory stays under the limit."""
    tracemalloc.start()
    try:
        result = call()
    except qrouting.InvalidRouting as exc:
        assert "\n" not in str(exc), str(exc)
        result = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, peak
    return result


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_json_tokens(data: bytes, tok: dict) -> None:
    record = json.loads(data)
    rows = record["tokens"] if isinstance(record, dict) else record
    kind = "logits" if "logits" in rows[0] else "affinity"
    assert tok["scores_are"] == ("logits" if kind == "logits" else "affinity")
    np.testing.assert_array_equal(tok["scores"], np.array([r[kind] for r in rows], dtype=float))
    for field, key in (("id", "ids"), ("device", "devices")):
        if field in rows[0]:
            assert tok[key].tolist() == [r[field] for r in rows]
            assert all(type(r[field]) is int for r in rows)
        else:
            assert tok[key] is None


@SETTINGS
@given(data=inputs(TOKENS_JSON))
def test_json_tokens_read_exactly_or_refused(folder: Path, data: bytes) -> None:
    path = folder / "t.json"
    path.write_bytes(data)
    tok = bounded(lambda: load_tokens(path))
    if tok is not None:
        check_json_tokens(data, tok)  # type: ignore[arg-type]


def check_csv_tokens(data: bytes, tok: dict) -> None:
    rows = [r for r in csv.reader(io.StringIO(data.decode(), newline="")) if r]
    names = [n.strip().lower() for n in rows[0]]
    body = rows[1:]
    assert all(len(r) == len(names) for r in body)
    for field, key in (("id", "ids"), ("device", "devices")):
        if field in names:
            assert tok[key].tolist() == [int(r[names.index(field)]) for r in body]
    score_cols = [i for i, n in enumerate(names) if n not in ("id", "device")]
    expected = [[float(r[i]) for i in score_cols] for r in body]
    np.testing.assert_array_equal(tok["scores"], np.array(expected))


@SETTINGS
@given(data=inputs(TOKENS_CSV))
def test_csv_tokens_read_exactly_or_refused(folder: Path, data: bytes) -> None:
    path = folder / "t.csv"
    path.write_bytes(data)
    tok = bounded(lambda: load_tokens(path))
    if tok is not None:
        check_csv_tokens(data, tok)  # type: ignore[arg-type]


HUGE = st.sampled_from([10**30, 2**63, 2**62, -(2**63), 1e308, 1e-308, -1, 0, 2.5])


def huge_graph() -> st.SearchStrategy[bytes]:
    """The valid graph with one field set to an extreme value (or a list of them)."""
    fields = ["num_experts", "k", "capacity", "capacity_factor", "cost_per_hop", "expert_device"]

    def build(field: str, value: object, as_list: bool) -> bytes:
        graph = json.loads(GRAPH)
        graph[field] = [value, 0, 1] if as_list or field == "expert_device" else value
        return json.dumps(graph).encode()

    return st.builds(build, st.sampled_from(fields), HUGE, st.booleans())


@SETTINGS
@given(data=st.one_of(inputs(GRAPH), huge_graph()))
def test_graph_read_exactly_or_refused(folder: Path, data: bytes) -> None:
    tokens = folder / "g-tokens.json"
    tokens.write_text(TOKENS_JSON)
    path = folder / "g.json"
    path.write_bytes(data)
    problem = bounded(lambda: load_problem(tokens, path))
    if problem is None:
        return
    graph = json.loads(data)
    assert problem.k == graph.get("k", 1)  # type: ignore[attr-defined]
    if graph.get("capacity") is not None:
        assert problem.capacity == graph["capacity"]  # type: ignore[attr-defined]
    qrouting.route(problem, "topk")  # whatever was accepted also routes
    assert problem.capacity_factor == float(graph.get("capacity_factor", 1.0))  # type: ignore
    assert problem.on_overflow == graph.get("on_overflow", "drop")  # type: ignore[attr-defined]
    locality = problem.locality  # type: ignore[attr-defined]
    if "expert_device" in graph:
        assert locality.expert_device.tolist() == graph["expert_device"]
        assert locality.cost_per_hop == float(graph.get("cost_per_hop", 0.0))  # JSON: doubles
        if "hops" in graph:
            np.testing.assert_array_equal(locality.hops, np.array(graph["hops"], dtype=float))
    else:
        assert locality is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=inputs(TOKENS_JSON), suffix=st.sampled_from([".json", ".csv"]))
def test_any_file_through_the_cli_routes_or_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, suffix: str
) -> None:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    code = main(["route", str(path), "--router", "topk"])
    captured = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in captured.err
    if code:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "internal error" not in captured.err, captured.err


def test_valid_files_read_back_exactly(folder: Path) -> None:
    for name, text, check in (
        ("v.json", TOKENS_JSON, check_json_tokens),
        ("v.csv", TOKENS_CSV, check_csv_tokens),
    ):
        path = folder / name
        path.write_text(text)
        check(text.encode(), load_tokens(path))
    (folder / "vg.json").write_text(GRAPH)
    problem = load_problem(folder / "v.json", folder / "vg.json")
    assert problem.k == 2 and problem.locality is not None
