"""The qcore exception hierarchy.

Every error that qcore raises on purpose is a ``QcoreError``; each also subclasses the builtin
that fits, so callers that already catch ``ValueError`` or ``TimeoutError`` keep working.
"""

from __future__ import annotations


class QcoreError(Exception):
    """Base class of every error raised by qcore on purpose."""


class InvalidProblem(QcoreError, ValueError):
    """The model or an argument is malformed (NaN bias, wrong vartype, bad value or type)."""


class UnknownSolver(QcoreError, KeyError):
    """No solver is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownParameter(InvalidProblem):
    """A solver was given a keyword argument it does not accept."""


class SolverUnavailable(QcoreError, RuntimeError):
    """A solver cannot run here: a missing extra, no device, no credentials, no network."""

    def __init__(self, message: str, *, extra: str | None = None) -> None:
        super().__init__(message)
        self.extra = extra


class ProblemTooLarge(QcoreError, ValueError):
    """The problem exceeds what this solver can handle (qubits, enumeration size, memory)."""


class SolverTimeout(QcoreError, TimeoutError):
    """A solver ran out of its time budget without producing any sample."""


class AllSolversFailed(QcoreError, RuntimeError):
    """``qcore.solve`` tried the solver and every fallback and none produced a result."""

    def __init__(self, message: str, attempts: list) -> None:
        super().__init__(message)
        self.attempts = attempts


class UnknownDevice(InvalidProblem):
    """``noise`` names no offline device snapshot (the message lists the available ones)."""


class DeviceTooSmall(ProblemTooLarge):
    """The device or noise model has fewer qubits than the problem needs."""


class MitigationUnsupported(InvalidProblem):
    """Error mitigation (or noise) was asked of a backend or target that cannot do it."""
