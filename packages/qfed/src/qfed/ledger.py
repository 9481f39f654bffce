"""A client's privacy ledger: every release its data ever made, persisted beside the node.

The ledger is the client's, not the server's. It holds the history of every DP release of the
client's data, in the (noise multiplier, sample rate, steps) triples that Opacus accountants
compose (DP-SGD steps, and the one Gaussian release of its label counts as ``(sigma, 1.0,
1)``), the released counts themselves (drawn once and reused, so asking again costs nothing
and reveals nothing new), the current noise plan, and whether any draw used the seeded test
mode. It is written to disk (atomically) after every release, so a client that restarts picks
up its spent budget instead of a fresh one, and nothing the server sends can reset it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qfed.errors import InvalidConfig
from qfed.privacy import epsilon_of

__all__ = ["ClientLedger"]

_VERSION = 1


@dataclass
class ClientLedger:
    """Everything one client's data has released, and what that costs in privacy."""

    history: list[tuple[float, float, int]] = field(default_factory=list)
    rounds_trained: int = 0
    #: the noisy label counts released (None: not released, or withheld by the policy)
    counts: list[float] | None = None
    #: the noisy example count released (the sum of ``counts`` when those were released)
    total: float | None = None
    #: the DP-SGD noise plan of the current run (key, noise multiplier, rate, public size)
    plan: dict[str, Any] | None = None
    #: True once any release used the seeded test source: the ledger's epsilon is then void
    seeded: bool = False

    def __post_init__(self) -> None:
        self.history = [(float(z), float(q), int(n)) for z, q, n in self.history]
        for z, q, n in self.history:
            # a damaged entry must never read as less spent budget
            if not (z >= 0 and math.isfinite(z) and 0 < q <= 1 and n >= 0):
                raise InvalidConfig(
                    f"privacy ledger entry (noise {z}, rate {q}, steps {n}) is not a release; "
                    "restore the ledger from a backup"
                )
        if self.plan is not None and not isinstance(self.plan, dict):
            raise InvalidConfig(f"privacy ledger plan must be an object, got {self.plan!r}")
        if self.rounds_trained < 0:
            raise InvalidConfig(f"privacy ledger rounds_trained is {self.rounds_trained} (< 0)")

    def epsilon(self, delta: float, mechanism: str = "rdp") -> float:
        """Epsilon at ``delta`` of everything released so far (inf after a seeded draw)."""
        if self.seeded and self.history:
            return math.inf
        return epsilon_of(self.history, delta, mechanism)

    @property
    def public_size(self) -> int | None:
        """The released (noisy) example count, as a size every later step may use."""
        if self.total is None:
            return None
        return max(1, round(self.total))

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "history": [list(h) for h in self.history],
            "rounds_trained": self.rounds_trained,
            "counts": self.counts,
            "total": self.total,
            "plan": self.plan,
            "seeded": self.seeded,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClientLedger:
        if values.get("version") != _VERSION:
            raise InvalidConfig(
                f"privacy ledger version {values.get('version')!r} is not {_VERSION}; it was "
                "written by another qfed version. Keep it (it records spent budget) and use "
                "that version, or move it aside only if this data never trained before"
            )
        try:
            return cls(
                history=[tuple(h) for h in values["history"]],
                rounds_trained=int(values["rounds_trained"]),
                counts=None if values["counts"] is None else [float(c) for c in values["counts"]],
                total=None if values["total"] is None else float(values["total"]),
                plan=values["plan"],
                seeded=bool(values["seeded"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidConfig(f"not a privacy ledger ({exc!r})") from exc

    @classmethod
    def load(cls, path: str | Path) -> ClientLedger:
        """The ledger at ``path``, or a new empty one when the file does not exist yet."""
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            values = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidConfig(
                f"privacy ledger {str(path)!r} is unreadable ({exc}); refusing to train with "
                "an unknown spent budget. Restore the file from a backup"
            ) from exc
        if not isinstance(values, dict):
            raise InvalidConfig(
                f"privacy ledger {str(path)!r} is not a ledger (a JSON object); refusing to "
                "train with an unknown spent budget. Restore the file from a backup"
            )
        return cls.from_dict(values)

    def save(self, path: str | Path) -> None:
        """Write atomically (a crash leaves the old or the new ledger, never half of one)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w") as handle:
            json.dump(self.to_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
