"""Monitoring: Prometheus metrics, optimisation-run metrics, health checks, alerting."""

from qops.monitoring.alert import Alert
from qops.monitoring.alerting import AlertManager, AnomalyRule, ThresholdRule
from qops.monitoring.health import CheckResult, HealthRegistry, HealthReport
from qops.monitoring.metrics import CONTENT_TYPE_LATEST, LATENCY_BUCKETS, MetricsRegistry
from qops.monitoring.notifiers import LogNotifier, Notifier, RecordingNotifier, WebhookNotifier
from qops.monitoring.solve_metrics import SolveMetrics

__all__ = [
    "CONTENT_TYPE_LATEST",
    "LATENCY_BUCKETS",
    "Alert",
    "AlertManager",
    "AnomalyRule",
    "CheckResult",
    "HealthRegistry",
    "HealthReport",
    "LogNotifier",
    "MetricsRegistry",
    "Notifier",
    "RecordingNotifier",
    "SolveMetrics",
    "ThresholdRule",
    "WebhookNotifier",
]
