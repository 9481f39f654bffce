"""The file readers under hypothesis: random bytes, truncations, mutated valid files and huge
declared sizes. Property: a one-line ``InvalidProblem`` naming the file, or a model that is
exactly what the file says (checked against a plain re-reading of its text); never another
exception, and never more than a bounded amount of memory."""

from __future__ import annotations

import itertools
import json
import math
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import dimod
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcore.errors import InvalidProblem
from qcore.io import read_beasley, read_bqm_json, read_gset, write_bqm_json

MEMORY_LIMIT = 64 * 2**20  # traced bytes any read of these small files may peak at

GSET = "5 6 \n1 2 1\n1 3 -1\n2 3 1\n3 4 1\n4 5 2\n2 5 1\n"
BEASLEY = " 2 \n 3 4 \n 1 1 5 \n 1 2 -3 \n 2 3 4 \n 3 3 -2 \n 2 2 \n 1 2 7 \n 2 2 -1 \n"
JSON_MODEL = dimod.BinaryQuadraticModel(
    {("x", ("y", 1)): 1.5, "y": -2.0, 3: 0.25, "3": 1.0},
    {(("x", ("y", 1)), "y"): 4.0, ("y", 3): -1.0, (3, "3"): 0.5},
    7.0,
    "SPIN",
)
JSON_TEXT = json.dumps(JSON_MODEL.to_serializable())

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INTERESTING = b'0123456789 -+.\neE\t[]{},:"nul'


@st.composite
def mutated(draw: st.DrawFn, valid: str) -> bytes:
    data = bytearray(valid.encode())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.sampled_from([*INTERESTING, 0, 255, 0xC3, 0x1F]))
        elif op == "insert":
            data[at:at] = bytes([draw(st.sampled_from(list(INTERESTING)))])
        elif op == "delete" and data:
            del data[at]
        elif op == "duplicate" and data:
            end = draw(st.integers(at, min(len(data), at + 12)))
            data[at:at] = data[at:end]
    return bytes(data)


def inputs(valid: str) -> st.SearchStrategy[bytes]:
    encoded = valid.encode()
    return st.one_of(
        st.binary(max_size=200),
        st.integers(0, len(encoded)).map(lambda k: encoded[:k]),
        mutated(valid),
    )


def huge_headers(template: Callable[[int, int], str]) -> st.SearchStrategy[bytes]:
    sizes = st.one_of(
        st.integers(0, 50),
        st.sampled_from([10**6, 10**6 + 1, 2**31, 2**63, 10**12, 10**30, 10**400]),
        st.integers(0, 10**40),
    )
    return st.tuples(sizes, sizes).map(lambda nm: template(*nm).encode())


def read_bounded(reader: Callable[[Path], object], path: Path) -> object:
    """``reader(path)``; a one-line InvalidProblem naming the file becomes None."""
    tracemalloc.start()
    try:
        result = reader(path)
    except InvalidProblem as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message, message
        result = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"reading {path.stat().st_size} bytes peaked at {peak} bytes"
    return result


def data_lines(data: bytes) -> list[list[str]]:
    return [line.split() for line in data.decode("utf-8").splitlines() if line.split()]


def assert_quadratic(bqm: dimod.BinaryQuadraticModel, expected: dict) -> None:
    got = {frozenset(k): v for k, v in bqm.quadratic.items()}
    for key in set(got) | set(expected):
        assert math.isclose(got.get(key, 0.0), expected.get(key, 0.0), abs_tol=1e-9), key


# --------------------------------------------------------------------------- G-set


def check_gset(data: bytes, instance) -> None:
    """The instance is exactly what the text says."""
    lines = data_lines(data)
    n, m = int(lines[0][0]), int(lines[0][1])
    assert len(lines) == m + 1 and (instance.n, instance.m) == (n, m)
    bqm = instance.bqm
    assert bqm.vartype is dimod.SPIN and list(bqm.variables) == list(range(n))
    assert all(bias == 0 for bias in bqm.linear.values()) and bqm.offset == 0
    expected: dict = defaultdict(float)
    for i, j, w in lines[1:]:
        assert int(i) != int(j)
        expected[frozenset((int(i) - 1, int(j) - 1))] += float(w)
    assert_quadratic(bqm, expected)
    assert math.isclose(instance.total_weight, sum(float(w) for _, _, w in lines[1:]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(data=st.one_of(inputs(GSET), huge_headers(lambda n, m: f"{n} {m}\n1 2 1\n")))
def test_gset_reader_gives_a_clean_error_or_the_file_exactly(folder: Path, data: bytes) -> None:
    path = folder / "g.txt"
    path.write_bytes(data)
    instance = read_bounded(read_gset, path)
    if instance is not None:
        check_gset(data, instance)


# --------------------------------------------------------------------------- Beasley


def check_beasley(data: bytes, instances) -> None:
    lines = data_lines(data)
    assert int(lines[0][0]) == len(instances)
    at = 1
    for instance in instances:
        n, m = int(lines[at][0]), int(lines[at][1])
        entries = lines[at + 1 : at + 1 + m]
        at += 1 + m
        assert (instance.n, instance.m) == (n, m) and len(entries) == m
        bqm = instance.bqm
        assert bqm.vartype is dimod.BINARY and list(bqm.variables) == list(range(n))
        linear: dict = defaultdict(float)
        quadratic: dict = defaultdict(float)
        for i, j, q in entries:
            u, v = int(i) - 1, int(j) - 1
            if u == v:
                linear[u] -= float(q)
            else:
                quadratic[frozenset((u, v))] -= 2 * float(q)
        for v in range(n):
            assert math.isclose(bqm.linear[v], linear.get(v, 0.0), abs_tol=1e-9)
        assert_quadratic(bqm, quadratic)
    assert at == len(lines)


@SETTINGS
@given(data=st.one_of(inputs(BEASLEY), huge_headers(lambda n, m: f"1\n{n} {m}\n1 1 1\n")))
def test_beasley_reader_gives_a_clean_error_or_the_file_exactly(folder: Path, data: bytes) -> None:
    path = folder / "b.txt"
    path.write_bytes(data)
    instances = read_bounded(read_beasley, path)
    if instances is not None:
        check_beasley(data, instances)


# --------------------------------------------------------------------------- BQM JSON


def as_label(value: object) -> object:
    return tuple(as_label(v) for v in value) if isinstance(value, list) else value


def check_json(data: bytes, bqm: dimod.BinaryQuadraticModel) -> None:
    record = json.loads(data)
    labels = [as_label(v) for v in record["variable_labels"]]
    assert list(bqm.variables) == labels and bqm.vartype.name == record["variable_type"]
    assert bqm.offset == record["offset"]
    for label, bias in zip(labels, record["linear_biases"], strict=True):
        assert bqm.linear[label] == bias
    expected: dict = defaultdict(float)
    for u, v, bias in zip(
        record["quadratic_head"], record["quadratic_tail"], record["quadratic_biases"], strict=True
    ):
        expected[frozenset((labels[u], labels[v]))] += bias
    assert_quadratic(bqm, expected)


def forged_json(n: int, m: int) -> str:
    record = JSON_MODEL.to_serializable()
    record.update(num_variables=n, num_interactions=m)
    return json.dumps(record)


@SETTINGS
@given(data=st.one_of(inputs(JSON_TEXT), huge_headers(forged_json)))
def test_bqm_json_reader_gives_a_clean_error_or_the_file_exactly(folder: Path, data: bytes) -> None:
    path = folder / "m.json"
    path.write_bytes(data)
    bqm = read_bounded(read_bqm_json, path)
    if bqm is not None:
        check_json(data, bqm)


@SETTINGS
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=8,
    ),
    field=st.sampled_from(
        [
            "variable_labels",
            "linear_biases",
            "quadratic_biases",
            "quadratic_head",
            "quadratic_tail",
            "offset",
            "variable_type",
            "use_bytes",
            "version",
            "num_variables",
        ]
    ),
)
def test_bqm_json_fields_of_any_type_give_a_clean_error_or_the_file(
    folder: Path, value: object, field: str
) -> None:
    record = JSON_MODEL.to_serializable()
    record[field] = value
    path = folder / "f.json"
    data = json.dumps(record).encode()
    path.write_bytes(data)
    bqm = read_bounded(read_bqm_json, path)
    if bqm is not None:
        check_json(data, bqm)


# --------------------------------------------------------------------------- fixed cases


def test_valid_files_read_back_exactly(folder: Path) -> None:
    for text, reader, check in (
        (GSET, read_gset, check_gset),
        (BEASLEY, read_beasley, check_beasley),
        (JSON_TEXT, read_bqm_json, check_json),
    ):
        path = folder / "valid"
        path.write_text(text)
        check(text.encode(), reader(path))


def test_nested_tuple_labels_and_labels_that_print_alike_survive_json(folder: Path) -> None:
    # dimod's own from_serializable turns only the outer list into a tuple
    path = folder / "labels.json"
    write_bqm_json(JSON_MODEL, path)
    back = read_bqm_json(path)
    assert back == JSON_MODEL and list(back.variables) == list(JSON_MODEL.variables)
    assert 3 in back.variables and "3" in back.variables


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("num_variables", 10**12, "num_variables is 1000000000000 but the lists hold 4"),
        ("variable_labels", [1, 1.0, "y", "z"], r"variable_labels\[1\] \(1.0\) is the same"),
        ("variable_labels", [True, 2, 3, 4], r"variable_labels\[0\] is True"),
        ("offset", True, "offset is True"),
        ("offset", "1.5", "offset is '1.5'"),
        ("linear_biases", [1, 2, 3], "3 linear_biases for 4 variable_labels"),
        ("quadratic_head", [0, 0, 9], r"quadratic_head\[2\] is 9"),
        ("use_bytes", True, "JSON cannot carry bytes"),
        ("version", {"bqm_schema": "1.0.0"}, "schemas 2.x and 3.x"),
        ("variable_type", "INTEGER", "variable_type is 'INTEGER'"),
    ],
)
def test_bad_json_fields_are_named(folder: Path, field: str, value: object, match: str) -> None:
    record = JSON_MODEL.to_serializable()
    record[field] = value
    path = folder / "bad.json"
    path.write_text(json.dumps(record))
    with pytest.raises(InvalidProblem, match=match):
        read_bqm_json(path)


def test_deeply_nested_json_is_a_clean_error(folder: Path) -> None:
    path = folder / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidProblem, match="nested too deeply"):
        read_bqm_json(path)


def test_max_variables_is_adjustable(folder: Path) -> None:
    path = folder / "wide.txt"
    path.write_text("200000 1\n1 2 1\n")
    with pytest.raises(InvalidProblem, match="above max_variables=100,000"):
        read_gset(path)
    assert read_gset(path, max_variables=200_000).n == 200_000


def test_only_ascii_whitespace_separates_tokens(folder: Path) -> None:
    path = folder / "odd.txt"
    path.write_text("1\n100\x1f0\n")  # str.split() would read "100 0"
    with pytest.raises(InvalidProblem, match="expected instance 1's header"):
        read_beasley(path)
    path.write_text("3 1\r1 2 1\r")  # old Mac line ends still read
    assert read_gset(path).m == 1


def test_every_declared_size_combination_is_bounded(folder: Path) -> None:
    path = folder / "sizes.txt"
    for n, m in itertools.product([1, 3, 10**9, 2**63], [0, 1, 5, 2**63]):
        path.write_text(f"{n} {m}\n1 2 1\n")
        read_bounded(read_gset, path)
