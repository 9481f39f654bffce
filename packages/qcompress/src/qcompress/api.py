"""``compress`` and ``decompress``: one tensor to one self-describing container and back."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qcompress.codecs import CODECS
from qcompress.container import Container, Segment, pack, unpack
from qcompress.entropy import CODINGS, DEFAULT_LEVEL, encode_bytes
from qcompress.errors import CorruptData, InvalidSettings
from qcompress.tensors import (
    FLOAT_DTYPES,
    TensorInfo,
    as_float,
    bf16_values,
    from_float,
    from_numpy,
    to_numpy,
)

__all__ = ["METHODS", "compress", "decompress", "error_stats", "inspect"]

METHODS = (*CODECS, "auto")


def error_stats(original: np.ndarray, restored: np.ndarray) -> dict[str, float]:
    """Relative L2 error (||x - y|| / ||x||, 0 for an all-zero x) and maximum absolute error."""
    x = original.astype(np.float64).ravel()
    diff = restored.astype(np.float64).ravel() - x
    norm = float(np.sqrt(np.dot(x, x)))
    err = float(np.sqrt(np.dot(diff, diff)))
    rel = err / norm if norm > 0 else (0.0 if err == 0 else math.inf)
    return {"rel_l2": rel, "max_abs": float(np.abs(diff).max()) if diff.size else 0.0}


def compress(
    tensor: Any,
    method: str = "shuffle-zstd",
    *,
    entropy: str | None = None,
    level: int = DEFAULT_LEVEL,
    **settings: Any,
) -> bytes:
    """``tensor`` (numpy array or torch tensor) as one container.

    ``method`` is a codec name (see ``METHODS``) or ``"auto"``, which lets the planner pick the
    method and settings for ``bits=`` (a budget in bits per value, container included) or
    ``rel_l2=`` (a relative L2 error target). ``entropy`` forces the entropy stage of every
    segment ("none", "zstd" or "shuffle-zstd"); by default each codec picks its own.
    Lossy methods record the relative L2 and maximum absolute error that ``decompress`` will
    reproduce; lossless ones round-trip bit for bit.
    """
    if method == "auto":
        from qcompress.planner import plan

        return plan(tensor, **settings).data
    array, info = to_numpy(tensor)
    return _compress_array(array, info, method, entropy=entropy, level=level, **settings)


def _compress_array(
    array: np.ndarray,
    info: TensorInfo,
    method: str,
    *,
    entropy: str | None,
    level: int,
    **settings: Any,
) -> bytes:
    if not isinstance(method, str) or method not in CODECS:
        raise InvalidSettings(f"method: unknown method {method!r}; use one of {list(METHODS)}")
    if entropy is not None and entropy not in CODINGS:
        raise InvalidSettings(f"entropy: must be one of {list(CODINGS)} or None, got {entropy!r}")
    codec = CODECS[method]
    unknown = set(settings) - set(codec.settings)
    if unknown:
        raise InvalidSettings(
            f"{sorted(unknown)[0]}: not a setting of method {method!r} "
            f"(its settings: {list(codec.settings) or 'none'})"
        )
    values = array if codec.lossless else as_float(array, info)
    encoded = codec.encode(values, info, **settings)
    segments = []
    for name, arr, default_coding in encoded.arrays:
        raw = np.ascontiguousarray(arr).tobytes()
        coding = entropy if entropy is not None else default_coding
        itemsize = max(1, arr.dtype.itemsize)
        stored = encode_bytes(raw, coding, itemsize, level)
        recorded = "zstd" if coding == "zstd-literal" else coding
        segments.append(Segment(name, recorded, itemsize, len(raw), stored))
    chain = [method, *sorted({s.coding for s in segments} - {"none"})]
    container = Container(info, method, encoded.params, segments, None, codec.lossless, chain)
    if not codec.lossless:
        # measure the error on what decompress will actually return, so the record is exact
        restored = _decode(unpack(pack(container), max_output_bytes=1 << 62))
        if info.dtype == "bfloat16":
            restored = bf16_values(restored)
        container.error = {**error_stats(values, restored), "bits_per_value": 0.0}
        # the record is part of the header it measures: settle on a size that includes itself
        for _ in range(4):
            size = len(pack(container))
            container.error["bits_per_value"] = round(8 * size / max(info.numel, 1), 4)
            if len(pack(container)) == size:
                break
    return pack(container)


def _decode(unpacked: Any) -> np.ndarray:
    """The codec's output as an array of the stored dtype (float32 bits for bfloat16)."""
    method = unpacked.method
    if method not in CODECS:
        raise CorruptData(f"header: unknown method {method!r}")
    codec = CODECS[method]
    if codec.lossless != unpacked.lossless:
        raise CorruptData(f"header: 'lossless' is {unpacked.lossless} but {method} is not")
    if not codec.lossless and unpacked.info.dtype not in FLOAT_DTYPES:
        raise CorruptData(
            f"header: lossy method {method} with non-float dtype {unpacked.info.dtype}"
        )
    unknown = set(unpacked.params) - codec.param_keys
    if unknown:
        raise CorruptData(f"header: unknown parameters {sorted(unknown)[:3]} for method {method}")
    out = codec.decode(unpacked.segments, unpacked.params, unpacked.info)
    unpacked.segments.check_all_used()
    if out.size != unpacked.info.numel:
        raise CorruptData(
            f"payload: decodes to {out.size} values, header says {unpacked.info.numel}"
        )
    return out if codec.lossless else from_float(out, unpacked.info)


def decompress(data: bytes | bytearray | memoryview, *, max_output_bytes: int | None = None) -> Any:
    """The tensor stored in ``data``: numpy in -> numpy out, torch in -> torch out.

    Raises CorruptData (a ValueError) for anything truncated, corrupted, of another format
    version or forged; never returns a wrong tensor. The output may be at most
    ``max_output_bytes`` (default: 65536 x the container size, at least 16 MiB).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptData(f"data: expected bytes, got {type(data).__name__}")
    unpacked = unpack(data, max_output_bytes)
    return from_numpy(_decode(unpacked), unpacked.info)


def inspect(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The verified header of a container (checksums checked, nothing decoded)."""
    return unpack(data, max_output_bytes=1 << 62).header
