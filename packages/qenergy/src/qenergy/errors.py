"""The errors qenergy raises on purpose; each subclasses the builtin that fits."""

from __future__ import annotations

__all__ = [
    "AmbiguousUnits",
    "InfeasibleJobs",
    "InfeasibleSchedule",
    "InvalidCluster",
    "InvalidJobs",
    "InvalidParameter",
    "InvalidTelemetry",
    "MissingColumn",
    "MissingExtra",
    "QenergyError",
    "UnknownMethod",
]


class QenergyError(Exception):
    """Base class of every error qenergy raises on purpose (the CLI prints these as one line)."""


class InvalidJobs(QenergyError, ValueError):
    """A job table has a bad value: non-finite, negative, duplicated id, wrong type."""


class MissingColumn(InvalidJobs):
    """A required column is absent from a job table or a telemetry file."""


class AmbiguousUnits(QenergyError, ValueError):
    """A power value whose unit (W or kW) cannot be told for sure; qenergy never guesses."""


class InvalidTelemetry(QenergyError, ValueError):
    """Telemetry is empty, unparsable, non-finite or has timestamps that go backwards."""


class InvalidCluster(QenergyError, ValueError):
    """A cluster description has a bad value (GPU count, power budget, idle power)."""


class InvalidParameter(QenergyError, ValueError):
    """A parameter of a qenergy function is out of range or of the wrong type."""


class UnknownMethod(QenergyError, LookupError):
    """No scheduling method or predictor is known under the name asked for."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class InfeasibleJobs(QenergyError, ValueError):
    """Jobs that cannot meet their deadline (or fit the cluster) even alone; names each and why."""

    def __init__(self, message: str, reasons: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.reasons = dict(reasons or {})


class InfeasibleSchedule(QenergyError, ValueError):
    """Each job fits alone, but no schedule meets every deadline under the capacity and budget."""

    def __init__(self, message: str, jobs: list[str] | None = None) -> None:
        super().__init__(message)
        self.jobs = list(jobs or [])


class MissingExtra(QenergyError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
