"""The qcore command line: solve files, list solvers, demo, bench."""

import json

import dimod
import pytest

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


def test_bench_rejects_missing_data_folder(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--suite", "gset", "--data", str(tmp_path / "missing")])
