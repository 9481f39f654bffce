"""The errors qops raises on purpose. Each subclasses the builtin that fits and names the field."""

from __future__ import annotations

__all__ = [
    "BulkheadFull",
    "CallTimeout",
    "CircuitOpen",
    "InvalidConfig",
    "InvalidSeries",
    "MalformedNabDirectory",
    "MissingExtra",
    "QopsError",
    "UnknownDetector",
]


class QopsError(Exception):
    """Base class of every error qops raises on purpose (the CLI prints these as one line)."""


class InvalidConfig(QopsError, ValueError):
    """A parameter is out of range or of the wrong type (raised at construction)."""


class InvalidSeries(QopsError, ValueError):
    """A metric series is unusable: non-finite values, timestamps out of order, empty."""


class UnknownDetector(QopsError, LookupError):
    """No detector is registered under the name asked for."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class MalformedNabDirectory(QopsError, ValueError):
    """A NAB data, label or results directory does not have NAB's layout or columns."""


class MissingExtra(QopsError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class CircuitOpen(QopsError, RuntimeError):
    """A call was refused because its circuit breaker is open."""


class BulkheadFull(QopsError, RuntimeError):
    """A call was refused because its bulkhead has no free slot."""


class CallTimeout(QopsError, TimeoutError):
    """A call ran past its deadline."""
