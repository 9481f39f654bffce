"""The command line: files in, launcher files out, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qnvlink.cli import main


def test_fabric_traffic_map_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fabric, job, out = tmp_path / "f.json", tmp_path / "j.csv", tmp_path / "plan"
    assert main(["fabric", "dgx-h100", "--nodes", "2", "--out", str(fabric)]) == 0
    assert main(["info", str(fabric)]) == 0
    assert main(["traffic", "3d", "--pp", "2", "--tp", "4", "--dp", "2", "--out", str(job)]) == 0
    code = main(
        ["map", "--fabric", str(fabric), "--traffic", str(job), "--method", "greedy",
         "--out", str(out), "--schedule", "misra-gries"]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "simulated_ms:" in text and "wrote" in text
    rankmap = json.loads((out / "rankmap.json").read_text())
    assert len(rankmap["mapping"]) == 16
    lines = (out / "rankfile").read_text().splitlines()
    assert lines[0].startswith("rank 0=node") and "slot=" in lines[0]
    devices = json.loads((out / "cuda_visible_devices.json").read_text())
    assert set(devices) <= {"node0", "node1"}
    assert (out / "topology.xml").read_text().startswith("<system")
    assert json.loads((out / "schedule.json").read_text())["num_rounds"] >= 1
    assert main(["schedule", "--traffic", str(job), "--out", str(tmp_path / "r.json")]) == 0


def test_map_with_a_slow_link_and_plot(tmp_path: Path) -> None:
    job = tmp_path / "j.npy"
    main(["traffic", "ring", "--ranks", "16", "--out", str(job)])
    png = tmp_path / "load.png"
    code = main(
        ["map", "--builder", "dgx-h100", "--nodes", "2", "--traffic", str(job),
         "--method", "metis", "--slow", "node0/gpu0", "node0/nic0", "0.5", "--plot", str(png)]
    )  # fmt: skip
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["map", "--builder", "dgx-h100", "--traffic", "missing.npy"], "missing.npy"),
        (["info", "nope.json"], "nope.json"),
        (["fabric", "dgx-9000", "--out", "x.json"], "invalid choice"),
        (["traffic", "ring", "--ranks", "1", "--out", "x.npy"], "ranks"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and match in err and "Traceback" not in err


def test_map_with_a_link_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "j.npy"
    main(["traffic", "a2a", "--ranks", "8", "--out", str(job)])
    base = ["map", "--builder", "dgx-h100", "--traffic", str(job), "--method", "identity"]
    assert main(base) == 0
    healthy = capsys.readouterr().out
    assert main([*base, "--down", "node0/gpu0", "node0/nvswitch0"]) == 0
    degraded = capsys.readouterr().out

    def ms(text: str) -> float:
        return float(text.split("simulated_ms:")[1].split()[0])

    assert ms(degraded) > ms(healthy)  # GPU 0 lost 5 of its 18 links
    assert main([*base, "--down", "node0/gpu0", "node0/nic0"]) == 2
    assert "disconnects" in capsys.readouterr().err


def test_too_many_ranks_and_bad_factor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "j.npy"
    main(["traffic", "ring", "--ranks", "9", "--out", str(job)])
    assert main(["map", "--builder", "dgx-h100", "--traffic", str(job)]) == 2
    assert "9 ranks" in capsys.readouterr().err
    args = ["map", "--builder", "dgx-h100", "--traffic", str(job), "--nodes", "2"]
    assert main([*args, "--slow", "node0/gpu0", "node0/nic0", "fast"]) == 2
    assert "FACTOR" in capsys.readouterr().err
    bad = tmp_path / "bad.xml"
    bad.write_text('<!DOCTYPE x [<!ENTITY a "b">]><system>&a;</system>')
    assert main(["map", "--fabric", str(bad), "--traffic", str(job)]) == 2
    assert "DTD" in capsys.readouterr().err
