"""The command line and the CSV/.npy loader (fuzzed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qensemble.cli import main
from qensemble.errors import InvalidUpdates
from qensemble.io import load_array, parse_csv


def test_aggregate_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "u.csv"
    path.write_text("# worker updates\n1,2\n3,4\n5,600\n")
    assert main(["aggregate", str(path), "--rule", "coordinate_median"]) == 0
    assert capsys.readouterr().out.strip() == "3,4"
    out = tmp_path / "agg.npy"
    assert (
        main(["aggregate", str(path), "--rule", "trimmed_mean", "--trim", "1", "--out", str(out)])
        == 0
    )
    np.testing.assert_allclose(np.load(out), [3.0, 4.0])


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("1,2\n3,4\n5,6\n", ["--rule", "krum", "--f", "1"], "f: Krum with 3 workers"),
        ("1,2\n3,4\n5,6\n", ["--rule", "krum"], "--f: --rule krum needs"),
        ("1,2\n3,nan\n", [], "row 2 column 2 is nan"),
        ("1,2\n3\n", [], "row 2 has 1 values"),
        ("1,2\n3,x\n", [], "row 2 column 2 is 'x'"),
        ("", [], "has no data rows"),
        ("1,2\n3,4\n", ["--rule", "mean", "--f", "1"], "--f: only krum"),
    ],
)
def test_aggregate_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, args: list[str], message: str
) -> None:
    path = tmp_path / "u.csv"
    path.write_text(text)
    assert main(["aggregate", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_select_and_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    probs = rng.dirichlet(np.ones(3), size=(6, 60))
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", y)
    assert main(["select", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith("members: [")
    assert main(["select", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "-k", "9"]) == 2
    assert "k: is 9" in capsys.readouterr().err
    assert main(["simulate", "--speeds", "4,1,1", "--tasks", "50"]) == 0
    out = capsys.readouterr().out
    assert "round_robin: makespan" in out and "multi_factor: makespan" in out
    assert main(["simulate", "--speeds", "4,0"]) == 2
    assert "speeds:" in capsys.readouterr().err
    assert main(["train", "--members", "0"]) == 2
    assert "--members: is 0" in capsys.readouterr().err


def test_npy_loader_refuses_pickles_and_text(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidUpdates, match=r"^file: .* not a plain .npy"):
        load_array(tmp_path / "o.npy")
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidUpdates, match=r"^file: .* not UTF-8"):
        load_array(tmp_path / "b.csv")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('0123456789.,-+eEnaif#x \n"')), max_size=80))
def test_csv_parser_fuzz(text: str) -> None:
    """Any text gives a finite rectangular matrix or InvalidUpdates, nothing else."""
    try:
        matrix = parse_csv(text)
    except InvalidUpdates as exc:
        assert str(exc).startswith("file: ") and "\n" not in str(exc)
        return
    assert matrix.ndim == 2 and matrix.size > 0 and np.all(np.isfinite(matrix))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3), min_size=1, max_size=6))
def test_csv_round_trip(rows: list[list[float]]) -> None:
    text = "\n".join(",".join(repr(v) for v in row) for row in rows)
    np.testing.assert_array_equal(parse_csv(text), np.array(rows))
