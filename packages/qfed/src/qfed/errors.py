"""The qfed exception hierarchy.

Every error qfed raises on purpose is a ``QfedError``; each also subclasses the builtin that
fits, so callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations


class QfedError(Exception):
    """Base class of every error raised by qfed on purpose."""


class InvalidConfig(QfedError, ValueError):
    """A setting is out of range or inconsistent (names the field and the fix)."""


class DataError(QfedError, ValueError):
    """Input data is missing, malformed, or cannot be partitioned as asked."""


class BudgetExhausted(QfedError, RuntimeError):
    """A client's privacy budget does not allow another round of training."""


class ModelError(QfedError, ValueError):
    """A model path, LoRA setting or parameter payload does not fit the model."""


class PolicyRefused(QfedError, PermissionError):
    """A client refuses a request that breaks a limit it pinned for itself (names the limit)."""
