"""Trials: what was asked, what was told, and what failed."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from qhpo.errors import InvalidTrial

__all__ = ["Trial", "TrialState", "check_value"]


class TrialState(enum.StrEnum):
    PENDING = "pending"  # asked, not told yet
    COMPLETE = "complete"  # told a finite value
    FAILED = "failed"  # told NaN/inf, or told failed: reported, never used as a number


@dataclass
class Trial:
    """One evaluation: its number, parameters, value (None unless complete) and state."""

    number: int
    params: dict[str, Any]
    state: TrialState = TrialState.PENDING
    value: float | None = None
    error: str | None = None
    source: str = "asked"  # "asked" by this study, or "warm-start" from prior trials
    user_attrs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "params": self.params,
            "state": self.state.value,
            "value": self.value,
            "error": self.error,
            "source": self.source,
            "user_attrs": self.user_attrs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trial:
        return cls(
            number=int(data["number"]),
            params=dict(data["params"]),
            state=TrialState(data["state"]),
            value=None if data.get("value") is None else float(data["value"]),
            error=data.get("error"),
            source=str(data.get("source", "asked")),
            user_attrs=dict(data.get("user_attrs") or {}),
        )


def check_value(value: object, where: str = "value") -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite number; ``(None, reason)`` for NaN/inf (a failed trial).

    Anything that is not a real number (a string, a bool, an array) is a programming error,
    not a failed training run, and raises ``InvalidTrial``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                value = float(value)  # type: ignore[arg-type]
            else:
                raise TypeError
        except TypeError:
            raise InvalidTrial(
                f"{where}: expected a real number (NaN/inf mark a failed trial), "
                f"got {type(value).__name__}"
            ) from None
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v):
        return None, "objective returned NaN"
    if math.isinf(v):
        return None, f"objective returned {v}"
    return v, None
