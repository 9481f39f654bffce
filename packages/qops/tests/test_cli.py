"""``qops nab ...``: NAB's layout written and scored, bad input as one line and exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qops.cli import main
from qops.detectors import detector_names

FIXTURE = Path(__file__).parent / "data" / "nab"


def scores_printed(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if name in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
            out[name] = float(value)
    return out


def test_detectors_lists_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nab", "detectors"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == detector_names()


def test_run_writes_nab_layout_and_score_reads_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["nab", "run", "--detector", "robust_z", "--out", str(tmp_path), "--nab-root", str(FIXTURE)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    written = tmp_path / "robust_z" / "realKnownCause" / "robust_z_rogue_agent_key_hold.csv"
    header, first = written.read_text().splitlines()[:2]
    assert header == "timestamp,anomaly_score" and first.startswith("2014-07-06 20:10:00,")
    assert "[3/3] robust_z" in captured.err  # progress, per file
    run_scores = scores_printed(captured.out)
    assert set(run_scores) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert main(["nab", "score", str(tmp_path / "robust_z"), "--nab-root", str(FIXTURE)]) == 0
    assert scores_printed(capsys.readouterr().out) == run_scores


def test_score_reads_another_detectors_results(capsys: pytest.CaptureFixture[str]) -> None:
    folder = FIXTURE / "results" / "windowedGaussian"
    assert main(["nab", "score", str(folder), "--nab-root", str(FIXTURE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "standard",
        "reward_low_FP_rate",
        "reward_low_FN_rate",
    ]


def test_unknown_detector_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nab", "run", "--detector", "htm", "--nab-root", str(FIXTURE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "detector: unknown name 'htm'" in err
    assert "Traceback" not in err


def test_malformed_results_directory_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "mine"
    shutil.copytree(FIXTURE / "results" / "windowedGaussian", broken)
    assert main(["nab", "score", str(broken), "--nab-root", str(FIXTURE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing results file" in err and "mine_" in err


def test_missing_nab_root_and_bad_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["nab", "score", str(tmp_path), "--nab-root", str(tmp_path / "none")]) == 2
    assert "no data/ folder" in capsys.readouterr().err
    assert main(["nab", "run"]) == 2
    assert "--detector" in capsys.readouterr().err
    assert (
        main(
            [
                "nab",
                "run",
                "--detector",
                "ewma",
                "--nab-root",
                str(FIXTURE),
                "--files",
                "realKnownCause/nope.csv",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "no data file 'realKnownCause/nope.csv'" in capsys.readouterr().err


def test_score_breakdown_counts_windows_per_category(capsys: pytest.CaptureFixture[str]) -> None:
    folder = FIXTURE / "results" / "windowedGaussian"
    assert main(["nab", "score", str(folder), "--nab-root", str(FIXTURE), "--breakdown"]) == 0
    lines = capsys.readouterr().out.splitlines()[3:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "artificialWithAnomaly",
        "realKnownCause",
    ]
    assert "windows" in lines[1] and "/5," in lines[1]  # 3 + 2 windows in realKnownCause
