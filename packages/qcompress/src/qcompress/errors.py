"""The errors qcompress raises on purpose; each subclasses the builtin that fits."""

from __future__ import annotations

__all__ = [
    "CorruptData",
    "InvalidSettings",
    "MissingExtra",
    "QcompressError",
    "UnsupportedTensor",
]


class QcompressError(Exception):
    """Base class of every error qcompress raises on purpose (the CLI prints these as one line)."""


class CorruptData(QcompressError, ValueError):
    """A container or file is truncated, corrupted, of another version, or forged.

    Raised before any tensor is returned: qcompress never hands back a wrong tensor.
    """


class InvalidSettings(QcompressError, ValueError):
    """A method name or setting is unknown, out of range or of the wrong type."""


class UnsupportedTensor(QcompressError, TypeError):
    """The input is not a tensor qcompress can store (type, dtype, or non-finite values)."""


class MissingExtra(QcompressError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
