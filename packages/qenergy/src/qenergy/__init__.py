"""qenergy: predict GPU job power and schedule jobs under a power cap and deadlines.

>>> import qenergy
>>> jobs, cluster = qenergy.generate_instance(12, seed=0)
>>> result = qenergy.schedule(jobs, cluster, objective="peak", seed=0)
>>> result.feasible
True
"""

from qenergy.checker import FeasibilityReport, check_schedule, power_profile
from qenergy.cluster import Cluster
from qenergy.errors import (
    AmbiguousUnits,
    InfeasibleJobs,
    InfeasibleSchedule,
    InvalidCluster,
    InvalidJobs,
    InvalidParameter,
    InvalidTelemetry,
    MissingColumn,
    MissingExtra,
    QenergyError,
    UnknownMethod,
)
from qenergy.generator import generate_instance, generate_jobs, generate_snapshots
from qenergy.jobs import load_jobs
from qenergy.result import ScheduleResult
from qenergy.schedule import METHODS, schedule
from qenergy.telemetry import load_telemetry

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "AmbiguousUnits",
    "Cluster",
    "FeasibilityReport",
    "InfeasibleJobs",
    "InfeasibleSchedule",
    "InvalidCluster",
    "InvalidJobs",
    "InvalidParameter",
    "InvalidTelemetry",
    "MissingColumn",
    "MissingExtra",
    "QenergyError",
    "ScheduleResult",
    "UnknownMethod",
    "check_schedule",
    "generate_instance",
    "generate_jobs",
    "generate_snapshots",
    "load_jobs",
    "load_telemetry",
    "power_profile",
    "schedule",
]
