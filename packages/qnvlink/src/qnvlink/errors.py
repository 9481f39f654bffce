"""qnvlink's exceptions: narrow classes under the fitting builtin; messages name the field."""

from __future__ import annotations

__all__ = [
    "InvalidFabric",
    "InvalidTraffic",
    "MalformedFile",
    "QnvlinkError",
    "TooManyRanks",
    "UnknownMethod",
]


class QnvlinkError(Exception):
    """Base of every error qnvlink raises on purpose."""


class InvalidFabric(QnvlinkError, ValueError):
    """A fabric that cannot be planned on: disconnected, no GPUs, a bad bandwidth or latency."""


class MalformedFile(QnvlinkError, ValueError):
    """A fabric or traffic file that is not what it claims to be (or is hostile XML/JSON)."""


class InvalidTraffic(QnvlinkError, ValueError):
    """A traffic matrix that is not square, negative, non-finite, or a bad generator argument."""


class TooManyRanks(QnvlinkError, ValueError):
    """More ranks than the fabric has GPUs."""


class UnknownMethod(QnvlinkError, ValueError):
    """A mapping or scheduling method name that does not exist (or does not fit the case)."""
