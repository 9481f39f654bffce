"""The errors qhpo raises on purpose. Each subclasses the builtin that fits and names the field."""

from __future__ import annotations

__all__ = [
    "InvalidSpace",
    "InvalidStudyFile",
    "InvalidTrial",
    "InvalidWarmStart",
    "MissingExtra",
    "QhpoError",
    "UnknownOptimizer",
    "UnknownProblem",
]


class QhpoError(Exception):
    """Base class of every error qhpo raises on purpose (the CLI prints these as one line)."""

    def __str__(self) -> str:
        # one line whatever a user-chosen name contains (LookupError would also add quotes)
        return " ".join(str(self.args[0]).split()) if self.args else ""


class InvalidSpace(QhpoError, ValueError):
    """A search space is empty, inconsistent, or a parameter is ill-defined."""


class InvalidTrial(QhpoError, ValueError):
    """A told value, a trial number or a configuration does not fit the study."""


class InvalidWarmStart(QhpoError, ValueError):
    """A prior-trials file has unknown parameters, values outside the space, or bad rows."""


class InvalidStudyFile(QhpoError, ValueError):
    """A study file is not one qhpo wrote, or was written for a different space."""


class UnknownOptimizer(QhpoError, LookupError):
    """No optimiser is registered under the name asked for."""


class UnknownProblem(QhpoError, LookupError):
    """No benchmark problem has the name asked for."""


class MissingExtra(QhpoError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
