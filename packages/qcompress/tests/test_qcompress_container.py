"""The container: exact lossless round trips, recorded errors, and refusal of bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcompress as qc
from qcompress.container import PRELUDE

from .forge import sign, split

RNG = np.random.default_rng(7)
X = RNG.standard_normal((33, 17)).astype(np.float32)

LOSSY = [
    ("fp16", {}),
    ("bf16", {}),
    ("int8", {}),
    ("int8", {"granularity": "tensor"}),
    ("int8", {"granularity": "group", "group_size": 16}),
    ("int4", {"granularity": "group", "group_size": 32}),
    ("nf4", {}),
    ("nf4", {"double_quant": True, "block_size": 16}),
    ("binary", {}),
    ("ecsq", {"step": 0.05}),
    ("ecsq", {"step": 0.5, "centroids": False}),
    ("ecsq", {"step": 0.0005}),
    ("mixed", {"rel_l2": 0.01, "block_size": 16}),
    ("topk", {"density": 0.1}),
    ("threshold", {"threshold": 1.0}),
    ("lowrank", {"rank": 3}),
    ("zfp", {"tolerance": 1e-3}),
    ("sz3", {"bound": 1e-3}),
]


def valid_containers() -> list[bytes]:
    out = [qc.compress(X, m, **kw) for m, kw in LOSSY]
    out += [qc.compress(X, m) for m in ("raw", "zstd", "shuffle-zstd")]
    out.append(qc.compress(torch.arange(12, dtype=torch.int64).reshape(3, 4), "zstd"))
    return out


VALID = valid_containers()


@pytest.mark.parametrize(
    "dtype",
    ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "uint64", "bool"],
)
@pytest.mark.parametrize("method", ["raw", "zstd", "shuffle-zstd"])
def test_lossless_numpy_round_trip_is_bit_exact(dtype: str, method: str) -> None:
    x = (RNG.standard_normal((5, 7, 3)) * 100).astype(dtype)
    y = qc.decompress(qc.compress(x, method))
    assert isinstance(y, np.ndarray) and y.dtype == x.dtype and y.shape == x.shape
    assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.bfloat16, torch.float16, torch.int32, torch.bool]
)
def test_lossless_torch_round_trip_keeps_dtype(dtype: torch.dtype) -> None:
    x = (torch.randn(4, 6, generator=torch.Generator().manual_seed(0)) * 10).to(dtype)
    y = qc.decompress(qc.compress(x, "shuffle-zstd"))
    assert isinstance(y, torch.Tensor) and y.dtype == dtype and y.shape == x.shape
    assert torch.equal(x, y)


def test_special_values_survive_lossless() -> None:
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], dtype=np.float32)
    assert qc.decompress(qc.compress(x, "zstd")).tobytes() == x.tobytes()


@pytest.mark.parametrize("shape", [(), (0,), (0, 5), (1,), (3, 1, 2)])
@pytest.mark.parametrize("method", ["zstd", "int8", "nf4", "ecsq", "binary", "topk"])
def test_odd_shapes(shape: tuple[int, ...], method: str) -> None:
    x = RNG.standard_normal(shape).astype(np.float32)
    kw = {"step": 0.1} if method == "ecsq" else {"k": min(1, x.size)} if method == "topk" else {}
    y = qc.decompress(qc.compress(x, method, **kw))
    assert y.shape == x.shape and y.dtype == x.dtype


@pytest.mark.parametrize(("method", "kw"), LOSSY)
def test_lossy_error_is_what_the_header_records(method: str, kw: dict) -> None:
    data = qc.compress(X, method, **kw)
    y = qc.decompress(data)
    assert y.shape == X.shape and y.dtype == X.dtype
    recorded = qc.inspect(data)["error"]
    measured = qc.error_stats(X, y)
    assert measured["rel_l2"] == pytest.approx(recorded["rel_l2"], rel=1e-6, abs=1e-12)
    assert measured["max_abs"] == pytest.approx(recorded["max_abs"], rel=1e-6, abs=1e-12)
    assert recorded["bits_per_value"] == pytest.approx(8 * len(data) / X.size, abs=1e-4)


def test_torch_bfloat16_lossy_comes_back_as_bfloat16() -> None:
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    y = qc.decompress(qc.compress(x, "int8"))
    assert y.dtype == torch.bfloat16
    assert float((y.float() - x.float()).norm() / x.float().norm()) < 0.02


def test_error_bounded_methods_hold_their_bound() -> None:
    for method, kw in (("zfp", {"tolerance": 1e-3}), ("sz3", {"bound": 1e-3})):
        assert qc.inspect(qc.compress(X, method, **kw))["error"]["max_abs"] <= 1e-3


# ---------------------------------------------------------------- refusing bad input


def test_truncation_at_every_length_is_refused() -> None:
    data = VALID[6]
    for cut in range(len(data)):
        with pytest.raises(qc.CorruptData):
            qc.decompress(data[:cut])


def test_every_single_bit_flip_in_a_container_is_refused() -> None:
    data = bytearray(qc.compress(X[:4, :4], "nf4", block_size=4))
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(qc.CorruptData):
            qc.decompress(bytes(flipped))


def test_wrong_version_magic_and_trailing_bytes() -> None:
    header, payload = split(VALID[0])
    with pytest.raises(qc.CorruptData, match="version 2"):
        qc.decompress(sign(header, payload, version=2))
    with pytest.raises(qc.CorruptData, match="magic"):
        qc.decompress(b"XXXX" + VALID[0][4:])
    with pytest.raises(qc.CorruptData, match="trailing"):
        qc.decompress(VALID[0] + b"\0")
    with pytest.raises(qc.CorruptData):
        qc.decompress("not bytes")  # type: ignore[arg-type]


def test_forged_huge_shape_is_refused_before_allocating() -> None:
    header, payload = split(qc.compress(np.zeros(4, np.float32), "zstd"))
    header["tensor"]["shape"] = [1 << 40]
    with pytest.raises(qc.CorruptData, match="limit"):
        qc.decompress(sign(header, payload))


def test_forged_zstd_bomb_is_refused() -> None:
    # a small segment that would decode to far more than its declared length
    big = qc.compress(np.zeros(1 << 20, np.float32), "zstd")
    header, payload = split(big)
    header["tensor"]["shape"] = [16]
    header["segments"][0]["raw_len"] = 64
    with pytest.raises(qc.CorruptData, match="more than"):
        qc.decompress(sign(header, payload))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.update(method="pickle"),
        lambda h: h.update(lossless=True),
        lambda h: h["tensor"].update(dtype="object"),
        lambda h: h["tensor"].update(kind="jax"),
        lambda h: h["tensor"].update(shape=[-1]),
        lambda h: h["tensor"].update(shape=[33, 18]),
        lambda h: h["tensor"].update(shape="33x17"),
        lambda h: h["segments"][0].update(raw_len=h["segments"][0]["raw_len"] + 1),
        lambda h: h["segments"][0].update(coding="lzma"),
        lambda h: h["segments"][0].update(len=10**9),
        lambda h: h["segments"].append(dict(h["segments"][0])),
        lambda h: h["segments"].pop(),
        lambda h: h["params"].update(block_size=3),
        lambda h: h["params"].update(block_size="64"),
        lambda h: h["params"].update(double_quant=1),
        lambda h: h.update(params=[]),
        lambda h: h.update(error="tiny"),
    ],
)
def test_forged_headers_with_valid_checksums_are_refused(mutate) -> None:
    header, payload = split(qc.compress(X, "nf4"))
    mutate(header)
    with pytest.raises(qc.CorruptData):
        qc.decompress(sign(header, payload))


def test_forged_code_beyond_declared_levels() -> None:
    header, payload = split(qc.compress(X, "ecsq", step=0.5))
    header["params"]["levels"] -= 1
    forged = copy.deepcopy(header)
    forged["segments"][-1]["raw_len"] -= 4  # table shrinks with levels
    with pytest.raises(qc.CorruptData):
        qc.decompress(sign(forged, payload))


def test_header_that_is_not_json_or_has_nan() -> None:
    _, payload = split(VALID[0])
    for raw in (b"\xff\xfe", b"[1, 2]", b'{"a": NaN}', b"[" * 100000):
        with pytest.raises(qc.CorruptData):
            qc.decompress(sign(None, payload, raw_header=raw))


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEAVY = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    with pytest.raises(qc.CorruptData):
        qc.decompress(data)


@FUZZ
@given(st.binary(max_size=60))
def test_fuzz_random_bytes_behind_a_valid_prelude(tail: bytes) -> None:
    with pytest.raises(qc.CorruptData):
        qc.decompress(VALID[0][: PRELUDE.size] + tail)


@FUZZ
@given(st.sampled_from(range(len(VALID))), st.data())
def test_fuzz_bit_flips_and_truncations(which: int, data: st.DataObject) -> None:
    blob = bytearray(VALID[which])
    flips = data.draw(
        st.lists(st.integers(0, len(blob) * 8 - 1), min_size=1, max_size=4, unique=True)
    )
    for bit in flips:
        blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(qc.CorruptData):
        qc.decompress(bytes(blob))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(qc.CorruptData):
        qc.decompress(VALID[which][:cut])


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(st.sampled_from(range(len(VALID))), st.data())
def test_fuzz_forged_headers_never_give_a_wrong_tensor(which: int, data: st.DataObject) -> None:
    """Re-signed headers with one field replaced: either refused, or exactly the original."""
    header, payload = split(VALID[which])
    original = qc.decompress(VALID[which])
    paths = []
    for key, value in header.items():
        paths.append((key,))
        if isinstance(value, dict):
            paths += [(key, k) for k in value]
        if isinstance(value, list):
            paths += [(key, i) for i in range(len(value))]
            paths += [(key, i, k) for i, v in enumerate(value) if isinstance(v, dict) for k in v]
    path = data.draw(st.sampled_from(paths))
    target = header
    for step in path[:-1]:
        target = target[step]
    new = data.draw(JSONISH)
    target[path[-1]] = new
    try:
        result = qc.decompress(sign(header, payload))
    except qc.CorruptData:
        return
    if path[0] == "params" and len(path) == 2 and isinstance(new, (int, float)):
        # a forger who recomputes the checksums may pick other valid numbers (a step, a
        # mean): that is a different valid container, not damage. It must still decode to
        # finite values of the declared shape and dtype
        values = result.float().numpy() if isinstance(result, torch.Tensor) else result
        assert values.shape == tuple(header["tensor"]["shape"])
        assert np.all(np.isfinite(values))
        return
    # any other accepted edit was harmless (a record, an informational parameter): the
    # tensor is exactly the original one
    if path == ("tensor", "kind"):
        return  # numpy <-> torch is a legitimate relabelling; the values are checked below
    as_np = (
        result.numpy()
        if isinstance(result, torch.Tensor) and result.dtype != torch.bfloat16
        else result
    )
    ref = original.numpy() if isinstance(original, torch.Tensor) else original
    assert type(result) is type(original)
    assert np.asarray(as_np).dtype == ref.dtype and np.array_equal(as_np, ref, equal_nan=True)


# the same properties with 20x the examples: pytest -m slow packages/qcompress


@pytest.mark.slow
@HEAVY
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_heavy(data: bytes) -> None:
    test_fuzz_random_bytes.hypothesis.inner_test(data)


@pytest.mark.slow
@HEAVY
@given(st.sampled_from(range(len(VALID))), st.data())
def test_fuzz_bit_flips_and_truncations_heavy(which: int, data: st.DataObject) -> None:
    test_fuzz_bit_flips_and_truncations.hypothesis.inner_test(which, data)


@pytest.mark.slow
@HEAVY
@given(st.sampled_from(range(len(VALID))), st.data())
def test_fuzz_forged_headers_heavy(which: int, data: st.DataObject) -> None:
    test_fuzz_forged_headers_never_give_a_wrong_tensor.hypothesis.inner_test(which, data)
