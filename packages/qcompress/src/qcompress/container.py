"""The one container format: a fixed prelude, a JSON header, a payload of byte segments.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"QCMP"
    4       2     format version (this code reads and writes 1)
    6       2     flags (0; any other value is refused)
    8       4     header length H
    12      8     payload length P
    20      16    blake2b-128 of bytes 0..19 and the header
    36      16    blake2b-128 of the payload
    52      H     header: UTF-8 JSON (tensor, method, params, segments, error)
    52+H    P     payload: the segments, back to back, in header order

The whole container is exactly 52 + H + P bytes. Both digests are checked before any value is
decoded, so a flipped bit or a truncation is refused whatever it hit; a forged container with
recomputed digests still has every size checked against the bytes actually present and against
``max_output_bytes`` before anything is allocated. JSON, never pickle: nothing in a container is
ever executed.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qcompress.entropy import CODINGS, decode_bytes
from qcompress.errors import CorruptData
from qcompress.tensors import DTYPES, KINDS, TensorInfo

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "PRELUDE",
    "Container",
    "Segment",
    "Segments",
    "default_output_limit",
    "pack",
    "unpack",
]

MAGIC = b"QCMP"
FORMAT_VERSION = 1
PRELUDE = struct.Struct("<4sHHIQ16s16s")
MAX_HEADER = 1 << 20  # a header is a few hundred bytes; a megabyte is already absurd
MAX_NDIM = 32
MAX_SEGMENTS = 64
# zstd's densest frames (RLE blocks) expand about 32768x, and a sparse tensor of zeros can be
# denser still: allow 65536x the container's size (at least 16 MiB) unless the caller says more
EXPANSION = 65536
MIN_OUTPUT_LIMIT = 16 << 20


def default_output_limit(container_bytes: int) -> int:
    return max(MIN_OUTPUT_LIMIT, EXPANSION * container_bytes)


def _digest(data: bytes | memoryview, person: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16, person=person).digest()


@dataclass(frozen=True)
class Segment:
    """One named byte string of the payload, before (``raw``) and after the entropy stage."""

    name: str
    coding: str
    itemsize: int
    raw_len: int
    data: bytes


@dataclass
class Container:
    info: TensorInfo
    method: str
    params: dict[str, Any]
    segments: list[Segment]
    error: dict[str, float] | None = None
    lossless: bool = False
    chain: list[str] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        return {
            "tensor": {
                "kind": self.info.kind,
                "dtype": self.info.dtype,
                "shape": list(self.info.shape),
            },
            "method": self.method,
            "chain": self.chain or [self.method],
            "params": self.params,
            "lossless": self.lossless,
            "error": self.error,
            "segments": [
                {
                    "name": s.name,
                    "coding": s.coding,
                    "itemsize": s.itemsize,
                    "raw_len": s.raw_len,
                    "len": len(s.data),
                }
                for s in self.segments
            ],
        }


def pack(container: Container) -> bytes:
    header = json.dumps(container.header(), separators=(",", ":"), allow_nan=False).encode()
    payload = b"".join(s.data for s in container.segments)
    head = struct.pack("<4sHHIQ", MAGIC, FORMAT_VERSION, 0, len(header), len(payload))
    prelude = PRELUDE.pack(
        MAGIC,
        FORMAT_VERSION,
        0,
        len(header),
        len(payload),
        _digest(head + header, b"qcmp-header"),
        _digest(payload, b"qcmp-payload"),
    )
    return prelude + header + payload


def _refuse_constant(name: str) -> float:
    raise CorruptData(f"header: JSON constant {name} is not allowed")


def _int(value: Any, what: str, low: int = 0, high: int | None = None) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise CorruptData(f"header: {what} must be an integer {bound}, got {value!r}")
    return value


@dataclass
class Unpacked:
    info: TensorInfo
    method: str
    params: dict[str, Any]
    lossless: bool
    error: dict[str, float] | None
    chain: list[str]
    segments: Segments
    header: dict[str, Any]


def read_header(data: bytes | memoryview) -> tuple[dict[str, Any], memoryview]:
    """Check magic, version, lengths and both digests; return the parsed header and payload."""
    view = memoryview(data)
    if len(view) < PRELUDE.size:
        raise CorruptData(
            f"container: {len(view)} bytes is shorter than the {PRELUDE.size}-byte prelude "
            "(truncated?)"
        )
    magic, version, flags, header_len, payload_len, header_digest, payload_digest = (
        PRELUDE.unpack_from(view)
    )
    if magic != MAGIC:
        raise CorruptData(
            f"container: bad magic {bytes(magic)!r}, expected {MAGIC!r} (not a qcompress container)"
        )
    if version != FORMAT_VERSION:
        raise CorruptData(
            f"container: format version {version} is not supported "
            f"(this qcompress reads version {FORMAT_VERSION})"
        )
    if flags != 0:
        raise CorruptData(f"container: unknown flags {flags:#06x}")
    if header_len > MAX_HEADER:
        raise CorruptData(
            f"container: header length {header_len} exceeds the {MAX_HEADER}-byte limit"
        )
    expected = PRELUDE.size + header_len + payload_len
    if expected != len(view):
        raise CorruptData(
            f"container: prelude declares {expected} bytes but {len(view)} are present "
            f"({'truncated' if len(view) < expected else 'trailing bytes'})"
        )
    header_bytes = view[PRELUDE.size : PRELUDE.size + header_len]
    if _digest(bytes(view[:20]) + bytes(header_bytes), b"qcmp-header") != header_digest:
        raise CorruptData("container: header checksum mismatch (the header is corrupted)")
    payload = view[PRELUDE.size + header_len :]
    if _digest(payload, b"qcmp-payload") != payload_digest:
        raise CorruptData("container: payload checksum mismatch (the payload is corrupted)")
    try:
        header = json.loads(bytes(header_bytes).decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptData(f"header: not valid UTF-8 JSON ({type(exc).__name__})") from exc
    if not isinstance(header, dict):
        raise CorruptData("header: expected a JSON object")
    return header, payload


def unpack(data: bytes | memoryview, max_output_bytes: int | None = None) -> Unpacked:
    header, payload = read_header(data)
    limit = max_output_bytes if max_output_bytes is not None else default_output_limit(len(data))
    tensor = header.get("tensor")
    if not isinstance(tensor, dict):
        raise CorruptData("header: 'tensor' must be an object with kind, dtype and shape")
    kind, dtype, shape = tensor.get("kind"), tensor.get("dtype"), tensor.get("shape")
    if not isinstance(kind, str) or kind not in KINDS:
        raise CorruptData(f"header: tensor kind {kind!r} is not one of {sorted(KINDS)}")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise CorruptData(f"header: tensor dtype {dtype!r} is not one of {sorted(DTYPES)}")
    if kind == "numpy" and dtype == "bfloat16":
        raise CorruptData("header: a numpy tensor cannot have dtype bfloat16")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        raise CorruptData(f"header: tensor shape must be a list of at most {MAX_NDIM} sizes")
    dims = tuple(_int(s, "a shape entry", 0, 1 << 62) for s in shape)
    numel = math.prod(dims)
    if numel * DTYPES[dtype].itemsize > limit:
        raise CorruptData(
            f"header: shape {list(dims)} needs {numel * DTYPES[dtype].itemsize} bytes, more than "
            f"the {limit}-byte limit for a {len(data)}-byte container "
            "(pass max_output_bytes to allow more)"
        )
    info = TensorInfo(kind, dtype, dims)
    method = header.get("method")
    if not isinstance(method, str):
        raise CorruptData("header: 'method' must be a string")
    params = header.get("params")
    if not isinstance(params, dict):
        raise CorruptData("header: 'params' must be an object")
    lossless = header.get("lossless")
    if not isinstance(lossless, bool):
        raise CorruptData("header: 'lossless' must be true or false")
    error = header.get("error")
    if error is not None and not (
        isinstance(error, dict)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in error.values())
    ):
        raise CorruptData("header: 'error' must be null or an object of numbers")
    chain = header.get("chain")
    if not isinstance(chain, list) or not all(isinstance(c, str) for c in chain):
        raise CorruptData("header: 'chain' must be a list of method names")
    segments = header.get("segments")
    if not isinstance(segments, list) or len(segments) > MAX_SEGMENTS:
        raise CorruptData(f"header: 'segments' must be a list of at most {MAX_SEGMENTS} entries")
    table: dict[str, tuple[str, int, int, memoryview]] = {}
    offset = 0
    total_raw = 0
    for entry in segments:
        if not isinstance(entry, dict):
            raise CorruptData("header: every segment must be an object")
        name, coding = entry.get("name"), entry.get("coding")
        if not isinstance(name, str) or name in table:
            raise CorruptData(f"header: segment name {name!r} is missing or repeated")
        if coding not in CODINGS:
            raise CorruptData(f"header: segment {name!r} has unknown coding {coding!r}")
        itemsize = _int(entry.get("itemsize"), f"segment {name!r} itemsize", 1, 16)
        raw_len = _int(entry.get("raw_len"), f"segment {name!r} raw_len")
        length = _int(entry.get("len"), f"segment {name!r} len")
        if offset + length > len(payload):
            raise CorruptData(f"header: segment {name!r} runs past the end of the payload")
        total_raw += raw_len
        if total_raw > limit:
            raise CorruptData(
                f"header: segments declare {total_raw} raw bytes, more than the {limit}-byte limit "
                "(pass max_output_bytes to allow more)"
            )
        table[name] = (coding, itemsize, raw_len, payload[offset : offset + length])
        offset += length
    if offset != len(payload):
        raise CorruptData(f"header: segments cover {offset} of {len(payload)} payload bytes")
    return Unpacked(info, method, params, lossless, error, chain, Segments(table), header)


class Segments:
    """The payload's segments, decoded on demand to exactly the size a codec expects."""

    def __init__(self, table: dict[str, tuple[str, int, int, memoryview]]) -> None:
        self._table = table
        self._used: set[str] = set()

    def names(self) -> list[str]:
        return list(self._table)

    def raw(self, name: str, nbytes: int) -> bytes:
        if name not in self._table:
            raise CorruptData(f"payload: segment {name!r} is missing")
        coding, itemsize, raw_len, data = self._table[name]
        if raw_len != nbytes:
            raise CorruptData(
                f"payload: segment {name!r} holds {raw_len} bytes, the method needs {nbytes}"
            )
        self._used.add(name)
        return decode_bytes(data, coding, itemsize, raw_len)

    def array(self, name: str, dtype: str | np.dtype, count: int) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.raw(name, count * dt.itemsize), dtype=dt)

    def raw_len(self, name: str) -> int:
        if name not in self._table:
            raise CorruptData(f"payload: segment {name!r} is missing")
        return self._table[name][2]

    def check_all_used(self) -> None:
        unused = set(self._table) - self._used
        if unused:
            raise CorruptData(f"payload: unexpected segments {sorted(unused)}")
