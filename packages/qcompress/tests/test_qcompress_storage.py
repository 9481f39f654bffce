"""save/load: state dicts and single tensors, memory-mapped reading, damaged files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcompress as qc

RNG = np.random.default_rng(3)
STATE = {
    "layer.weight": torch.randn(16, 8, generator=torch.Generator().manual_seed(0)),
    "layer.bias": torch.zeros(16),
    "steps": np.arange(5, dtype=np.int64),
}


def test_state_dict_round_trip_keeps_order_kinds_and_values(tmp_path: Path) -> None:
    path = tmp_path / "model.qc"
    size = qc.save(path, STATE)
    assert size == path.stat().st_size
    out = qc.load(path)
    assert list(out) == list(STATE)
    assert torch.equal(out["layer.weight"], STATE["layer.weight"])
    assert isinstance(out["steps"], np.ndarray) and np.array_equal(out["steps"], STATE["steps"])


def test_single_tensor_and_per_name_methods(tmp_path: Path) -> None:
    x = RNG.standard_normal((64, 32)).astype(np.float32)
    qc.save(tmp_path / "x.qc", x, "int8")
    y = qc.load(tmp_path / "x.qc")
    assert isinstance(y, np.ndarray) and qc.error_stats(x, y)["rel_l2"] < 0.02
    qc.save(
        tmp_path / "m.qc",
        STATE,
        "zstd",
        methods={"layer.weight": {"method": "nf4", "block_size": 16}},
    )
    with qc.Reader(tmp_path / "m.qc") as reader:
        assert reader.names() == list(STATE)
        assert qc.inspect(reader.container("layer.weight"))["method"] == "nf4"
        assert torch.equal(reader["layer.bias"], STATE["layer.bias"])


def test_bad_settings_leave_no_file_behind(tmp_path: Path) -> None:
    with pytest.raises(qc.InvalidSettings):
        qc.save(tmp_path / "x.qc", STATE, "nf4", block_size=0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(qc.InvalidSettings):
        qc.save(tmp_path / "x.qc", STATE, methods={"missing": {"method": "raw"}})


def test_truncated_file_is_refused_at_every_length(tmp_path: Path) -> None:
    path = tmp_path / "m.qc"
    qc.save(path, {"a": np.ones(3, np.float32)}, "raw")
    data = path.read_bytes()
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(qc.CorruptData):
            qc.load(path)


def test_every_bit_flip_in_a_small_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.qc"
    qc.save(path, {"a": np.ones(2, np.float32)}, "raw")
    data = bytearray(path.read_bytes())
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        with pytest.raises(qc.CorruptData):
            qc.load(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_fuzz_load_random_files(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.qc"
    path.write_bytes(data)
    with pytest.raises(qc.CorruptData):
        qc.load(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_fuzz_load_damaged_files(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "d.qc"
    qc.save(path, STATE, "shuffle-zstd")
    blob = bytearray(path.read_bytes())
    if data.draw(st.booleans()):
        bit = data.draw(st.integers(0, len(blob) * 8 - 1))
        blob[bit // 8] ^= 1 << (bit % 8)
    else:
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    path.write_bytes(bytes(blob))
    with pytest.raises(qc.CorruptData):
        qc.load(path)


def test_missing_extra_inside_a_file_propagates_and_the_map_closes(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "z.qc"
    qc.save(path, {"a": RNG.standard_normal(64).astype(np.float32)}, "zfp", tolerance=1e-3)
    import qcompress.codecs.errorbound as eb

    def missing() -> None:
        raise qc.MissingExtra("method: zfp needs zfpy; pip install 'qcompress[errorbound]'")

    monkeypatch.setattr(eb, "_zfpy", missing)
    with pytest.raises(qc.MissingExtra, match=r"qcompress\[errorbound\]"):
        qc.load(path)
