"""The command line: one-line errors and exit code 2 on bad input, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qcompress as qc
from qcompress.cli import main


@pytest.fixture
def array_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.npy"
    np.save(path, np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    return path


def test_compress_inspect_decompress(array_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "w.qc"
    assert (
        main(["compress", str(array_file), str(out), "--method", "nf4", "--set", "block_size=32"])
        == 0
    )
    assert "nf4" in capsys.readouterr().out
    assert main(["inspect", str(out)]) == 0
    assert '"block_size": 32' in capsys.readouterr().out
    back = tmp_path / "back.npy"
    assert main(["decompress", str(out), str(back)]) == 0
    assert np.load(back).shape == (64, 64)
    assert main(["compress", str(array_file), str(out), "--bits", "3"]) == 0
    assert 8 * out.stat().st_size / 64**2 <= 3


def test_inspect_saved_file(tmp_path: Path, capsys) -> None:
    qc.save(tmp_path / "m.qc", {"a": np.ones(3, np.float32)})
    assert main(["inspect", str(tmp_path / "m.qc")]) == 0
    assert capsys.readouterr().out.startswith("a: numpy float32 [3]")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compress", "{npy}", "{out}", "--method", "bogus"], "method"),
        (["compress", "{npy}", "{out}", "--set", "block_size"], "--set"),
        (["compress", "{npy}", "{out}", "--method", "nf4", "--bits", "3"], "--bits"),
        (["compress", "{missing}", "{out}"], "missing.npy"),
        (["inspect", "{npy}"], "magic"),
        (["decompress", "{npy}", "{out}"], "magic"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args, message, array_file: Path, tmp_path: Path, capsys
) -> None:
    subst = {
        "npy": str(array_file),
        "out": str(tmp_path / "o.qc"),
        "missing": str(tmp_path / "missing.npy"),
    }
    assert main([a.format(**subst) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_object_npy_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["compress", str(path), str(tmp_path / "o.qc")]) == 2
    assert "not a plain numeric" in capsys.readouterr().err
