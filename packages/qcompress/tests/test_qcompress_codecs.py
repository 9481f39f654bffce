"""Each method does what the literature says it does, and refuses bad settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qcompress as qc
from qcompress.codecs.nf4 import NF4_LEVELS

RNG = np.random.default_rng(11)
W = RNG.standard_normal((256, 256)).astype(np.float32)


def rel(method: str, **kw) -> tuple[float, float]:
    data = qc.compress(W, method, **kw)
    return qc.error_stats(W, qc.decompress(data))["rel_l2"], 8 * len(data) / W.size


def test_int8_per_row_on_gaussian_matches_the_textbook_error() -> None:
    # absmax/127 step over ~±3.9 sigma: error ~ step/sqrt(12) relative to sigma
    err, bits = rel("int8")
    step = np.abs(W).max(axis=1).mean() / 127
    assert err == pytest.approx(step / np.sqrt(12), rel=0.1)
    assert bits == pytest.approx(8 + 32 / 256, abs=0.1)  # plus a ~500-byte header


def test_int4_grouped_beats_per_tensor() -> None:
    assert rel("int4", granularity="group", group_size=32)[0] < rel("int4", granularity="tensor")[0]


def test_nf4_levels_and_error() -> None:
    assert (
        NF4_LEVELS.size == 16 and NF4_LEVELS[0] == -1 and NF4_LEVELS[-1] == 1 and NF4_LEVELS[7] == 0
    )
    err, bits = rel("nf4", block_size=64)
    assert 0.08 < err < 0.10 and bits == pytest.approx(4.5, abs=0.1)
    err_dq, bits_dq = rel("nf4", block_size=64, double_quant=True)
    assert bits_dq < 4.2 and err_dq < err * 1.02


def test_nf4_codes_are_nearest_levels() -> None:
    x = np.array([0.0, 1.0, -1.0, 0.5, 0.07958029955625534], dtype=np.float32)
    y = qc.decompress(qc.compress(x, "nf4", block_size=5))
    assert np.allclose(y, [0.0, 1.0, -1.0, 0.44070982608795166, 0.07958029955625534])


def test_binary_uses_the_mean_magnitude() -> None:
    y = qc.decompress(qc.compress(W, "binary"))
    assert np.allclose(np.abs(y[0]), np.abs(W[0]).mean(), rtol=1e-5)
    assert np.all(np.sign(y) == np.where(W >= 0, 1, -1))
    # sign + optimal scale on a Gaussian: rel error sqrt(1 - 2/pi)
    assert rel("binary")[0] == pytest.approx(np.sqrt(1 - 2 / np.pi), abs=0.01)


def test_ecsq_beats_nf4_at_fewer_bits() -> None:
    err_nf4, bits_nf4 = rel("nf4")
    err, bits = rel("ecsq", step=0.24)
    assert bits < bits_nf4 and err < err_nf4 * 0.8


def test_ecsq_wide_codes_use_the_split_layout() -> None:
    data = qc.compress(W, "ecsq", step=0.002)
    assert qc.inspect(data)["params"]["layout"] == "split"
    # centroid reconstruction stays inside the cell: at most one step away
    assert qc.error_stats(W, qc.decompress(data))["max_abs"] <= 0.002 + 1e-6


def test_topk_keeps_the_largest() -> None:
    y = qc.decompress(qc.compress(W, "topk", k=100))
    kept = np.flatnonzero(y)
    assert kept.size == 100
    assert np.abs(W.ravel()[kept]).min() >= np.sort(np.abs(W.ravel()))[-100]
    assert np.array_equal(y.ravel()[kept], W.ravel()[kept])


def test_threshold_and_fp16_values() -> None:
    y = qc.decompress(qc.compress(W, "threshold", threshold=2.0, values="float16"))
    assert np.array_equal(y != 0, np.abs(W) >= 2.0)


def test_lowrank_is_exact_on_a_low_rank_matrix() -> None:
    m = (RNG.standard_normal((600, 3)) @ RNG.standard_normal((3, 700))).astype(np.float32)
    y = qc.decompress(qc.compress(m, "lowrank", rank=3))
    assert qc.error_stats(m, y)["rel_l2"] < 1e-5


def test_mixed_precision_follows_importance_and_budget() -> None:
    w = W.copy()
    w[:8] *= 10  # the first rows matter most by |w|
    grad = np.zeros_like(w)
    data = qc.compress(w, "mixed", bits=6.0, block_size=256)
    header = qc.inspect(data)
    assert header["error"]["bits_per_value"] <= 6.0
    levels = qc.decompress(qc.compress(w, "mixed", bits=6.0, block_size=256, grad=grad))
    assert qc.error_stats(w[:8], levels[:8])["rel_l2"] < 0.01  # important rows got 8+ bits
    target = qc.compress(w, "mixed", rel_l2=0.02, block_size=64)
    assert qc.inspect(target)["error"]["rel_l2"] <= 0.02


def test_fp16_refuses_overflow_and_lossy_refuses_nan_and_ints() -> None:
    with pytest.raises(qc.InvalidSettings, match="bf16"):
        qc.compress(np.array([1e6], np.float32), "fp16")
    with pytest.raises(qc.UnsupportedTensor, match="NaN"):
        qc.compress(np.array([np.nan], np.float32), "int8")
    with pytest.raises(qc.UnsupportedTensor, match="floating"):
        qc.compress(np.arange(4), "int8")


@pytest.mark.parametrize(
    ("method", "kw", "field"),
    [
        ("nope", {}, "method"),
        ("int8", {"granularity": "row"}, "granularity"),
        ("int8", {"group_size": 0}, "group_size"),
        ("nf4", {"block_size": 1}, "block_size"),
        ("nf4", {"double_quant": "yes"}, "double_quant"),
        ("nf4", {"bits": 4}, "bits"),
        ("ecsq", {}, "step"),
        ("ecsq", {"step": -1.0}, "step"),
        ("ecsq", {"step": 1e-9}, "step"),
        ("topk", {}, "k"),
        ("topk", {"k": 10**9}, "k"),
        ("topk", {"density": 1.5}, "density"),
        ("lowrank", {"rank": 0}, "rank"),
        ("mixed", {"bits": 2.0}, "bits"),
        ("mixed", {}, "bits"),
        ("zfp", {}, "tolerance"),
        ("sz3", {"bound": 1e-3, "mode": "psnr"}, "mode"),
    ],
)
def test_bad_settings_name_the_field(method: str, kw: dict, field: str) -> None:
    with pytest.raises(qc.InvalidSettings, match=field):
        qc.compress(W, method, **kw)


def test_unsupported_inputs() -> None:
    with pytest.raises(qc.UnsupportedTensor):
        qc.compress([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(qc.UnsupportedTensor):
        qc.compress(np.array([1 + 2j]))
    with pytest.raises(qc.InvalidSettings, match="entropy"):
        qc.compress(W, "raw", entropy="gzip")


def test_entropy_override_is_lossless_and_recorded() -> None:
    data = qc.compress(torch.ones(1000), "raw", entropy="shuffle-zstd")
    assert qc.inspect(data)["chain"] == ["raw", "shuffle-zstd"]
    assert len(data) < 1000
