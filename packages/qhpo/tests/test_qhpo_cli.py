"""The ``qhpo`` command line: one line and exit 2 on bad input, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from qhpo.cli import main

SPACE_YAML = "lr: {type: float, low: 1e-4, high: 1, log: true}\nk: {type: int, low: 1, high: 8}\n"


def test_space_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(SPACE_YAML)
    assert main(["space", "check", str(f)]) == 0
    out = capsys.readouterr().out
    assert "2 parameters" in out and "lr: float [0.0001, 1.0] log" in out


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x: {type: float, low: 2, high: 1}\n", "below high"),
        ("x: [\n", "not valid YAML"),
        ("", "empty"),
    ],
)
def test_bad_space_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, match: str
) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(text)
    assert main(["space", "check", str(f)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_and_bad_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "check", "/nonexistent/s.yaml"]) == 2
    assert main(["bench", "--trials", "0"]) == 2
    assert main(["bench", "--optimizer", "cmaes"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 3


def test_warmstart_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = tmp_path / "s.yaml"
    s.write_text(SPACE_YAML)
    p = tmp_path / "p.csv"
    p.write_text("lr,k,dropout,value\n0.01,2,0.1,0.5\n5,2,0.1,0.4\n")
    assert main(["warmstart", "check", str(p), "--space", str(s)]) == 2
    assert "dropout" in capsys.readouterr().err
    args = ["warmstart", "check", str(p), "--space", str(s), "--unknown", "ignore"]
    assert main([*args, "--outside", "skip"]) == 0
    out = capsys.readouterr().out
    assert "1 usable trials" in out and "ignored parameters: ['dropout']" in out


def test_bench_and_optimizers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["optimizers"]) == 0
    assert "vqc (extra: quantum)" in capsys.readouterr().out
    assert main(["bench", "--problem", "branin", "--optimizer", "sobol", "--trials", "8"]) == 0
    assert "median regret" in capsys.readouterr().out
