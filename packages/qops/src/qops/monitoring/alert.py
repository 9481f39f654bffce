"""The alert record every rule produces and every notifier receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Alert"]


@dataclass(frozen=True)
class Alert:
    rule: str
    state: str  # "firing" or "resolved"
    severity: str
    value: float
    at: float
    message: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Identity for deduplication: the rule and its labels."""
        return self.rule + "".join(f"|{k}={v}" for k, v in sorted(self.labels.items()))

    def summary(self) -> str:
        return (
            f"[{self.state}] {self.rule} ({self.severity}): {self.message} value={self.value:.6g}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "state": self.state,
            "severity": self.severity,
            "value": self.value,
            "at": self.at,
            "message": self.message,
            "labels": dict(self.labels),
            "fingerprint": self.fingerprint,
        }
