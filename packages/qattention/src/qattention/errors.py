"""Errors raised at qattention's boundary, before torch or a dependency sees a bad value."""

from __future__ import annotations


class QattentionError(Exception):
    """Base class of every qattention error."""


class InvalidArgument(QattentionError, ValueError):
    """A parameter value is out of range or of the wrong kind; the message names the field."""


class InvalidShape(QattentionError, ValueError):
    """Tensor shapes do not fit together; the message names the tensor and the expected shape."""


class UnsupportedModel(QattentionError, TypeError):
    """A model whose layout this function does not know (e.g. no attention layers found)."""


def missing_extra(extra: str, what: str, exc: ImportError) -> ImportError:
    """The ImportError raised when an optional extra is not installed."""
    return ImportError(
        f"{what} needs the '{extra}' extra: pip install 'qattention[{extra}]' ({exc})"
    )
