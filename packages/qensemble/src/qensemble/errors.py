"""Errors qensemble raises on purpose; each subclasses the fitting builtin and names the field."""

from __future__ import annotations

__all__ = [
    "EmptyEnsemble",
    "InvalidParameter",
    "InvalidUpdates",
    "MemberShapeMismatch",
    "MissingExtra",
    "ModelNotPicklable",
    "NoMembersTrained",
    "QensembleError",
]


class QensembleError(Exception):
    """Base class of every error qensemble raises on purpose (the CLI prints these as one line)."""


class InvalidParameter(QensembleError, ValueError):
    """A parameter is out of range or of the wrong type (e.g. Krum's ``f`` too large)."""


class InvalidUpdates(QensembleError, ValueError):
    """Worker updates are unusable: NaN/inf values, ragged shapes, mismatched state-dict keys."""


class EmptyEnsemble(QensembleError, ValueError):
    """An ensemble, a set of updates or a member list has no members."""


class MemberShapeMismatch(QensembleError, ValueError):
    """Members' predictions (or parameters) disagree in shape."""


class ModelNotPicklable(QensembleError, TypeError):
    """``model_fn`` cannot be sent to a worker process (a lambda or a local function)."""


class NoMembersTrained(QensembleError, RuntimeError):
    """Every member failed (each failure is in the error's ``failures``)."""

    def __init__(self, message: str, failures: list | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])


class MissingExtra(QensembleError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
