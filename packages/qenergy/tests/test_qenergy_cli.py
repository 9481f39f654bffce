"""The ``qenergy`` command line: the happy path end to end, and one-line errors with exit 2."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from qenergy.cli import main

SMI = (
    "timestamp, index, power.draw [W], utilization.gpu [%]\n"
    "2024/01/15 10:00:00.000, 0, 612.40 W, 97 %\n"
)


def test_generate_schedule_check(tmp_path, capsys) -> None:
    jobs, cluster = tmp_path / "jobs.csv", tmp_path / "cluster.json"
    assert (
        main(
            [
                "generate",
                "--jobs",
                "12",
                "--seed",
                "3",
                "--out",
                str(jobs),
                "--cluster-out",
                str(cluster),
            ]
        )
        == 0
    )
    out = tmp_path / "s.csv"
    args = [
        "schedule",
        str(jobs),
        "--cluster",
        str(cluster),
        "--caps",
        "0.85,0.7",
        "--out",
        str(out),
        "--json",
        str(tmp_path / "s.json"),
        "--profile",
        str(tmp_path / "p.csv"),
        "--time-limit",
        "3",
    ]
    pytest.importorskip("matplotlib")
    args += ["--plot", str(tmp_path / "p.png")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "feasible: True" in text
    assert (tmp_path / "p.png").stat().st_size > 1000
    summary = json.loads((tmp_path / "s.json").read_text())["summary"]
    assert summary["feasible"] is True
    assert len(pd.read_csv(out)) == 12
    assert main(["check", str(jobs), str(out), "--cluster", str(cluster)]) == 0
    assert "feasible: True" in capsys.readouterr().out
    # the same schedule against a smaller budget fails the check (exit 1, violations listed)
    small = json.loads(cluster.read_text()) | {"power_budget_w": summary["peak_w"] - 100}
    cluster.write_text(json.dumps(small))
    assert main(["check", str(jobs), str(out), "--cluster", str(cluster)]) == 1
    assert "violation:" in capsys.readouterr().out


def test_telemetry_summary(tmp_path, capsys) -> None:
    path = tmp_path / "smi.csv"
    path.write_text(SMI)
    assert main(["telemetry", str(path)]) == 0
    assert "612.4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["schedule", "missing.csv", "--gpus", "8", "--budget-w", "5000"], "missing.csv"),
        (["schedule", "JOBS", "--gpus", "8"], "--budget-w"),
        (["schedule", "JOBS", "--gpus", "8", "--budget-w", "5000", "--caps", "x"], "--caps"),
        (
            ["schedule", "JOBS", "--gpus", "8", "--budget-w", "5000", "--method", "nope"],
            "invalid choice",
        ),
        (
            ["schedule", "JOBS", "--gpus", "1", "--budget-w", "5000"],
            "cannot be scheduled even alone",
        ),
        (["telemetry", "EMPTY"], "empty"),
        (["generate", "--jobs", "0", "--out", "x.csv"], "n_jobs"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv: list[str], words: str) -> None:
    jobs = tmp_path / "jobs.csv"
    pd.DataFrame(
        [
            {
                "job_id": "a",
                "gpus": 4,
                "duration_s": 600,
                "submit_s": 0,
                "deadline_s": 3600,
                "power_w": 2400,
            }
        ]
    ).to_csv(jobs, index=False)
    (tmp_path / "empty.txt").write_text("")
    argv = [
        str(jobs) if a == "JOBS" else str(tmp_path / "empty.txt") if a == "EMPTY" else a
        for a in argv
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("qenergy")
    assert words in err
