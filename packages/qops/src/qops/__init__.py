"""qops: operations for QuantumFlow services.

- :mod:`qops.monitoring`: Prometheus metrics, optimisation-run metrics, health, alerting;
- :mod:`qops.detectors`: streaming anomaly detectors, :mod:`qops.nab`: the NAB benchmark;
- :mod:`qops.resilience`: retry, circuit breaker, timeouts, bulkheads, fallbacks;
- :mod:`qops.scaling`: the HPA rule, forecast-driven scaling, the replay simulator.
"""

from qops.errors import (
    BulkheadFull,
    CallTimeout,
    CircuitOpen,
    InvalidConfig,
    InvalidSeries,
    MalformedNabDirectory,
    MissingExtra,
    QopsError,
    UnknownDetector,
)

__version__ = "0.1.0"

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
    "__version__",
]
