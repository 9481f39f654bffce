"""Files of compressed tensors: ``save`` streams containers to disk one tensor at a time,
``load`` and :class:`Reader` read them back through a memory map.

File layout::

    b"QCMF" | version u16 | flags u16          8-byte file prelude
    container, container, ...                  one per tensor (each self-checking)
    index                                      UTF-8 JSON: names, offsets, lengths
    index length u64 | blake2b-128 of index | b"QCMF"    28-byte trailer

The index is written last, so saving never holds more than one compressed tensor in memory,
and it is checksummed and every offset bounded by the file size before anything is read.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from qcompress.api import compress, decompress
from qcompress.errors import CorruptData, InvalidSettings

__all__ = ["FILE_MAGIC", "FILE_VERSION", "Reader", "load", "save"]

FILE_MAGIC = b"QCMF"
FILE_VERSION = 1
HEAD = struct.Struct("<4sHH")
TRAIL = struct.Struct("<Q16s4s")
MAX_INDEX = 64 << 20


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16, person=b"qcmf-index").digest()


def save(
    path: str | os.PathLike[str],
    obj: Any,
    method: str = "shuffle-zstd",
    *,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: Any,
) -> int:
    """Write a tensor or a state dict (str -> tensor) to ``path``; return the file size.

    Every tensor uses ``method`` and ``settings`` unless ``methods[name]`` gives its own
    (``{"method": "nf4", "block_size": 64}``). The file appears atomically when complete.
    """
    single = not isinstance(obj, Mapping)
    items: list[tuple[str, Any]] = [("", obj)] if single else list(obj.items())
    for name, _ in items:
        if not isinstance(name, str):
            raise InvalidSettings(f"state dict: keys must be strings, got {name!r}")
    overrides = dict(methods or {})
    unknown = set(overrides) - {name for name, _ in items}
    if unknown:
        raise InvalidSettings(f"methods: names not in the state dict: {sorted(unknown)[:3]}")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".qcompress-", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(HEAD.pack(FILE_MAGIC, FILE_VERSION, 0))
            offset = HEAD.size
            entries = []
            for name, tensor in items:
                chosen = dict(overrides.get(name, {}))
                m = chosen.pop("method", method) if chosen else method
                blob = compress(tensor, m, **(chosen if name in overrides else settings))
                out.write(blob)
                entries.append({"name": name, "offset": offset, "length": len(blob)})
                offset += len(blob)
            index = json.dumps(
                {"single": single, "entries": entries}, separators=(",", ":")
            ).encode()
            out.write(index)
            out.write(TRAIL.pack(len(index), _digest(index), FILE_MAGIC))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.stat().st_size


class Reader:
    """A qcompress file opened through a memory map; tensors decode one at a time on access."""

    def __init__(
        self, path: str | os.PathLike[str], *, max_output_bytes: int | None = None
    ) -> None:
        self.path = Path(path)
        self._max_output = max_output_bytes
        self._file = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size < HEAD.size + TRAIL.size:
                raise CorruptData(f"{self.path}: {size} bytes is too short for a qcompress file")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self.single, self._entries = self._read_index(size)
        except BaseException:
            self.close()
            raise

    def _read_index(self, size: int) -> tuple[bool, dict[str, tuple[int, int]]]:
        magic, version, flags = HEAD.unpack_from(self._map, 0)
        if magic != FILE_MAGIC:
            raise CorruptData(f"{self.path}: bad magic {magic!r}; not a qcompress file")
        if version != FILE_VERSION:
            raise CorruptData(
                f"{self.path}: file version {version} is not supported (this reads {FILE_VERSION})"
            )
        if flags:
            raise CorruptData(f"{self.path}: unknown flags {flags:#06x}")
        index_len, digest, end = TRAIL.unpack_from(self._map, size - TRAIL.size)
        if end != FILE_MAGIC:
            raise CorruptData(f"{self.path}: trailer missing (truncated or not closed)")
        index_start = size - TRAIL.size - index_len
        if index_len > MAX_INDEX or index_start < HEAD.size:
            raise CorruptData(f"{self.path}: index length {index_len} does not fit the file")
        raw = self._map[index_start : size - TRAIL.size]
        if _digest(raw) != digest:
            raise CorruptData(f"{self.path}: index checksum mismatch (the index is corrupted)")
        try:
            index = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise CorruptData(f"{self.path}: index is not valid JSON") from exc
        if not isinstance(index, dict) or not isinstance(index.get("single"), bool):
            raise CorruptData(f"{self.path}: index must be an object with 'single' and 'entries'")
        entries = index.get("entries")
        if not isinstance(entries, list) or (index["single"] and len(entries) != 1):
            raise CorruptData(f"{self.path}: index entries are malformed")
        table: dict[str, tuple[int, int]] = {}
        position = HEAD.size
        for entry in entries:
            if not isinstance(entry, dict):
                raise CorruptData(f"{self.path}: index entry is not an object")
            name, offset, length = entry.get("name"), entry.get("offset"), entry.get("length")
            ok = isinstance(name, str) and name not in table
            ok = ok and all(
                isinstance(v, int) and not isinstance(v, bool) for v in (offset, length)
            )
            if not ok or offset != position or length < 0 or offset + length > index_start:
                raise CorruptData(f"{self.path}: index entry {name!r} is out of bounds or repeated")
            table[name] = (offset, length)
            position = offset + length
        if position != index_start:
            raise CorruptData(
                f"{self.path}: {index_start - position} unindexed bytes before the index"
            )
        return index["single"], table

    def names(self) -> list[str]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def container(self, name: str) -> memoryview:
        offset, length = self._entries[name]
        return memoryview(self._map)[offset : offset + length]

    def __getitem__(self, name: str) -> Any:
        if name not in self._entries:
            raise KeyError(name)
        view = self.container(name)
        try:
            return decompress(view, max_output_bytes=self._max_output)
        except CorruptData as exc:
            error: Exception = CorruptData(f"{self.path}: tensor {name!r}: {exc}")
        except Exception as exc:
            error = _detached(exc)
        finally:
            view = None  # type: ignore[assignment]
        # raised outside the handler, with the failed decode's tracebacks dropped: their frames
        # hold views into the memory map, which could not be closed while they live
        raise error

    def close(self) -> None:
        if getattr(self, "_map", None) is not None:
            self._map.close()
            self._map = None  # type: ignore[assignment]
        self._file.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detached(exc: BaseException) -> Exception:
    seen = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return exc  # type: ignore[return-value]


def load(path: str | os.PathLike[str], *, max_output_bytes: int | None = None) -> Any:
    """What :func:`save` wrote: the tensor, or the state dict in its original order."""
    with Reader(path, max_output_bytes=max_output_bytes) as reader:
        if reader.single:
            return reader[reader.names()[0]]
        return {name: reader[name] for name in reader}
