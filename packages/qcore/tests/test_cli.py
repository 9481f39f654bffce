"""The qcore command line: solve files, list solvers, demo, bench."""

import json

import dimod
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcore import bench
from qcore.cli import main
from qcore.io import write_bqm_json

GSET = "4 5 \n1 2 1\n2 3 1\n3 4 1\n4 1 1\n1 3 1\n"  # a 4-cycle plus a chord: max cut 4
BEASLEY = " 1\n 3 4\n 1 1 5\n 2 2 -3\n 1 2 -4\n 3 3 2\n"  # max x'Qx = 7 at x = (1, 0, 1)


def test_solve_gset_file_reports_cut(tmp_path, capsys):
    path = tmp_path / "tiny.txt"
    path.write_text(GSET)
    out_json = tmp_path / "result.json"
    assert main(["solve", str(path), "--solver", "exact", "-o", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "cut = 4" in out and "proven_optimal = True" in out
    saved = json.loads(out_json.read_text())
    assert saved["cut"] == 4 and saved["solver"] == "exact"


def test_solve_beasley_instance_and_params(tmp_path, capsys):
    path = tmp_path / "bqp3.txt"
    path.write_text(BEASLEY)
    assert (
        main(
            [
                "solve",
                str(path),
                "--solver",
                "sa",
                "--seed",
                "1",
                "--param",
                "num_reads=5",
                "--param",
                "num_sweeps=100",
            ]
        )
        == 0
    )
    assert "x'Qx = 7" in capsys.readouterr().out


def test_solve_json_with_fallback(tmp_path, capsys):
    bqm = dimod.BinaryQuadraticModel({"a": 1.0, "b": -1.0}, {("a", "b"): -2.0}, 0.0, "SPIN")
    path = tmp_path / "model.json"
    write_bqm_json(bqm, path)
    assert main(["solve", str(path), "--solver", "exact", "--fallback", "sa"]) == 0
    assert "energy = -2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["solve", "/no/such/file.txt"], "does not exist"),
        (["solve", "{file}", "--solver", "nope"], "unknown name"),
        (["solve", "{file}", "--param", "oops"], "name=value"),
        (["solve", "{file}", "--param", "num_reads=1", "--param", "num_reads=2"], "twice"),
        (["solve", "{file}", "--format", "beasley", "--instance", "3"], "1..1"),
        (["solve", "{file}", "--time-limit", "-1"], "time_limit"),
    ],
)
def test_solve_errors_are_one_line_messages(tmp_path, capsys, argv, message):
    path = tmp_path / "bqp3.txt"
    path.write_text(BEASLEY)
    argv = [a.replace("{file}", str(path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_solvers_lists_availability(capsys):
    assert main(["solvers"]) == 0
    out = capsys.readouterr().out
    for name in ("exact", "sa", "tabu", "descent", "sb", "auto"):
        assert f"{name} " in out


def test_demo_runs_and_agrees_with_exact(capsys):
    assert main(["demo", "--nodes", "12", "--time-limit", "0.5"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("exact", "auto"))]
    cuts = {row[0]: float(row[1]) for row in rows}
    assert cuts["auto"] == cuts["exact"]
    assert "colouring" in out


def test_bench_exact_suite_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert bench.main(["--suite", "exact", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [row["n"] for row in data["exact"]] == [16, 20, 22, 24]
    assert all(row["proven_optimal"] for row in data["exact"])
    assert "time to prove the optimum" in out.with_suffix(".md").read_text()


def test_bench_gset_suite_on_a_tiny_instance(tmp_path, monkeypatch, capsys):
    (tmp_path / "gset").mkdir()
    (tmp_path / "gset" / "T4.txt").write_text(GSET)
    monkeypatch.setitem(bench.GSET_BEST, "T4", 4)
    out = tmp_path / "g.json"
    assert (
        bench.main(
            [
                "--suite",
                "gset",
                "--data",
                str(tmp_path),
                "--gset",
                "T4",
                "--solvers",
                "auto",
                "sa",
                "tabu",
                "--budget",
                "0.3",
                "--seeds",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    runs = json.loads(out.read_text())["runs"]
    assert {r["solver"] for r in runs} == {"auto", "sa", "tabu"}
    assert all(r["value"] == 4 for r in runs)
    report = out.with_suffix(".md").read_text()
    assert "| T4 | 4 |" in report and "Time-to-target" in report
    capsys.readouterr()
    assert bench.main(["--report", str(out)]) == 0  # re-rendered from the JSON, no solving
    assert capsys.readouterr().out.strip() == report.strip()


def assert_one_line_error(capsys, code, *words):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert "internal error" not in captured.err, captured.err
    for word in words:
        assert word in lines[0], lines[0]
    return captured


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--suite", "gset", "--data", "{tmp}/missing"], ["--data", "not a folder"]),
        (["--suite", "gset", "--data", "{tmp}", "--gset", "G999"], ["--gset G999", "G1"]),
        (["--suite", "gset", "--data", "{tmp}", "--gset", "G1"], ["--gset G1", "does not exist"]),
        (["--suite", "beasley", "--data", "{tmp}", "--bqp", "bqp9"], ["--bqp bqp9"]),
        (["--suite", "exact", "--budget", "-1"], ["--budget -1.0"]),
        (["--suite", "exact", "--budget", "nan"], ["--budget nan"]),
        (["--suite", "exact", "--seeds", "0"], ["--seeds 0"]),
        (["--suite", "exact", "--target-gap", "2"], ["--target-gap 2.0"]),
        (["--suite", "exact", "--out", "{tmp}"], ["--out", "is a folder"]),
        (["--suite", "exact", "--out", "{tmp}/file.txt/r.json"], ["--out", "is a file"]),
        (["--suite", "nope"], ["argument --suite: invalid choice"]),
        (["--budget", "soon"], ["invalid float value: 'soon'"]),
        (["--report", "{tmp}/missing.json"], ["missing.json", "No such file"]),
        (["--report", "{tmp}/file.txt"], ["--report", "not a JSON file"]),
        (["--report", "{tmp}/other.json"], ["--report", "not a result written by qcore bench"]),
    ],
)
def test_bench_bad_arguments_and_missing_data_end_in_one_line(tmp_path, capsys, argv, words):
    (tmp_path / "file.txt").write_text("not json")
    (tmp_path / "other.json").write_text('{"runs": [{"x": 1}], "exact": [], "command": ""}')
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert_one_line_error(capsys, bench.main(argv), *words)
    assert_one_line_error(capsys, main(["bench", *argv]), "qcore bench: error:", *words)


def test_solve_output_keeps_labels_that_print_alike_apart(tmp_path, capsys):
    from dimod.variables import deserialize_variable

    bqm = dimod.BinaryQuadraticModel(
        {1: 1.0, "1": -1.0, ("a", 1): 0.5, "('a', 1)": -0.5, ("t", ("u", 2)): 2.0},
        {(1, "1"): -2.0},
        0.0,
        "BINARY",
    )
    model, out = tmp_path / "m.json", tmp_path / "out.json"
    write_bqm_json(bqm, model)
    assert main(["solve", str(model), "--solver", "exact", "-o", str(out)]) == 0
    saved = json.loads(out.read_text())
    labels = [deserialize_variable(v) for v in saved["variable_labels"]]
    assert labels == list(bqm.variables) and len(set(labels)) == 5
    sample = dict(zip(labels, saved["sample"], strict=True))
    assert bqm.energy(sample) == saved["energy"] == qcore_energy(bqm)


def qcore_energy(bqm):
    import qcore

    return qcore.solve(bqm, "exact").energy


def test_solve_of_a_model_without_variables_prints_its_offset(tmp_path, capsys):
    model, out = tmp_path / "empty.json", tmp_path / "out.json"
    write_bqm_json(dimod.BinaryQuadraticModel({}, {}, 2.5, "SPIN"), model)
    assert main(["solve", str(model), "--solver", "sa", "-o", str(out)]) == 0
    assert "energy = 2.5" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["variable_labels"] == [] and saved["sample"] == [] and saved["energy"] == 2.5


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["solve", "{file}", "-o", "{tmp}/no/such/dir/out.json"], ["--output", "does not exist"]),
        (["solve", "{file}", "-o", "{tmp}"], ["--output", "is a folder"]),
        (["solve", "{file}", "--param", "time_limit=5"], ["use --time-limit"]),
        (["solve", "{file}", "--param", "seed=1"], ["use --seed"]),
        (["solve", "{file}", "--param", "=3"], ["name=value"]),
        (["solve", "{file}", "--solver", "sa", "--param", "beta_range=5"], ["beta_range: 5"]),
        (["solve", "{file}", "--solver", "tabu", "--param", "tenure=-1"], ["tenure: -1"]),
        (["solve", "{file}", "--solver", "sa", "--param", "num_reads=2.5"], ["num_reads: 2.5"]),
        (["solve", "{file}", "--time-limit", "nan"], ["time_limit"]),
        (["solve", "{file}", "--seed", "x"], ["invalid int value: 'x'"]),
        (["solve", "{gset}", "--instance", "2"], ["--instance 2", "only Beasley"]),
        (["solve", "{tmp}"], ["does not exist or is not a file"]),
        (["solve", "{binary}"], ["not ASCII/UTF-8"]),
        (["solve", "{file}", "--format", "json"], ["not valid JSON"]),
        (["demo", "--nodes", "5"], ["--nodes 5"]),
        (["demo", "--seed", "-1"], ["--seed -1"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_input_ends_in_one_line_and_exit_2(tmp_path, capsys, argv, words):
    (tmp_path / "bqp3.txt").write_text(BEASLEY)
    (tmp_path / "tiny.txt").write_text(GSET)
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    names = {
        "{file}": tmp_path / "bqp3.txt",
        "{gset}": tmp_path / "tiny.txt",
        "{binary}": tmp_path / "blob.bin",
        "{tmp}": tmp_path,
    }
    for key, value in names.items():
        argv = [a.replace(key, str(value)) for a in argv]
    captured = assert_one_line_error(capsys, main(argv), *words)
    assert "wrote" not in captured.out  # nothing was solved before the bad output path


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=120) | st.sampled_from([GSET, BEASLEY]).map(str.encode))
def test_any_file_through_the_cli_solves_or_fails_in_one_line(tmp_path, capsys, data):
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    code = main(["solve", str(path), "--solver", "exact"])
    captured = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in captured.err
    if code:
        assert len(captured.err.strip().splitlines()) == 1 and "internal" not in captured.err
