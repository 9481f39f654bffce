"""Test helper: build containers from a header dict with valid checksums (a forger's tool)."""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

from qcompress.container import FORMAT_VERSION, MAGIC, PRELUDE, read_header


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    header, payload = read_header(data)
    return header, bytes(payload)


def sign(
    header: Any, payload: bytes, version: int = FORMAT_VERSION, raw_header: bytes | None = None
) -> bytes:
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    head = struct.pack("<4sHHIQ", MAGIC, version, 0, len(body), len(payload))

    def digest(data: bytes, person: bytes) -> bytes:
        return hashlib.blake2b(data, digest_size=16, person=person).digest()

    return (
        PRELUDE.pack(
            MAGIC,
            version,
            0,
            len(body),
            len(payload),
            digest(head + body, b"qcmp-header"),
            digest(payload, b"qcmp-payload"),
        )
        + body
        + payload
    )
