"""API keys: made from ``secrets``, shown once, stored as a SHA-256 hash, checked by prefix.

A key is ``qs_<prefix>_<secret>`` with 64 random bits of prefix (the row's public id) and 256
random bits of secret. Keys this long cannot be guessed, so a fast hash is enough at rest (a
slow password hash guards low-entropy passwords; it would only slow every request here).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from qservice.errors import ConfigError, Unauthorized
from qservice.models import ApiKey

SCOPES = {
    "read": "list and read this key's jobs and runs, and models",
    "jobs": "create and cancel this key's jobs",
    "compute": "synchronous calls (solve, routing plans, anomalies, ...)",
    "predict": "classify texts with a served model",
    "models": "register model versions",
    "admin": "every scope, and every key's jobs",
}
DEFAULT_SCOPES = ("read", "jobs", "compute", "predict")


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def owner_filter(self) -> int | None:
        """The key id whose jobs this key may see; None (every job) for an admin key."""
        return None if "admin" in self.scopes else self.key_id


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ConfigError(f"scopes: unknown {unknown}; choose from {sorted(SCOPES)}")
    if not scopes:
        raise ConfigError(f"scopes: give at least one of {sorted(SCOPES)}")
    return sorted(set(scopes))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, scopes: list[str] | tuple[str, ...]) -> str:
    """Store a new key for ``name``; returns the key (the only time it exists in clear)."""
    if not name or len(name) > 100:
        raise ConfigError("name: give 1 to 100 characters")
    scopes = check_scopes(scopes)
    prefix = secrets.token_hex(8)
    key = f"qs_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(name=name, prefix=prefix, secret_hash=_digest(key), scopes=" ".join(scopes)))
    session.flush()
    return key


def authenticate(session: Session, header: str | None) -> Principal:
    if not header:
        raise Unauthorized("Authorization: missing; send 'Authorization: Bearer <API key>'")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Authorization: use the Bearer scheme: 'Bearer <API key>'")
    key = key.strip()
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "qs" or len(parts[1]) != 16:
        raise Unauthorized(
            "Authorization: not a qservice API key (create one: qservice create-key)"
        )
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    # compare the hashes in constant time, and do it even without a row, so the time taken
    # does not say whether a prefix exists
    stored = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(stored, _digest(key)) or row is None or row.revoked_at:
        raise Unauthorized("Authorization: unknown or revoked API key")
    return Principal(row.id, row.name, frozenset(row.scopes.split()))
