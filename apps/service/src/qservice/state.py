"""What the request handlers share: settings, database, queue, limits, metrics, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from qops.monitoring import HealthRegistry, MetricsRegistry, SolveMetrics
from sqlalchemy import func, select, text

from qservice.config import Settings
from qservice.db import Database
from qservice.jobs.queue import JobQueue
from qservice.limits import TokenBucket
from qservice.models import WorkerBeat, utcnow
from qservice.serving_process import ServingProcess


@dataclass
class ServiceState:
    settings: Settings
    db: Database
    queue: JobQueue
    buckets: TokenBucket
    metrics: MetricsRegistry = field(default_factory=lambda: MetricsRegistry("qservice"))
    health: HealthRegistry = field(default_factory=HealthRegistry)
    serving: ServingProcess = field(default_factory=ServingProcess)
    # model versions whose export succeeded: (name, version) -> exported folder
    serving_dirs: dict[tuple[str, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.solve_metrics = SolveMetrics(self.metrics)
        self.requests = self.metrics.counter(
            "http_requests", "HTTP requests by route and status.", ["method", "route", "status"]
        )
        self.latency = self.metrics.histogram(
            "http_request_seconds", "HTTP request latency by route.", ["route"]
        )
        self.jobs = self.metrics.gauge("jobs", "Jobs in the store by status.", ["status"])
        self.health.register("process", lambda: True, liveness=True)
        self.health.register("database", self.database_ok, timeout=5.0)
        self.health.register("workers", self.workers_ok, timeout=5.0)

    @classmethod
    def build(cls, settings: Settings) -> ServiceState:
        return cls(
            settings=settings,
            db=Database(settings),
            queue=JobQueue(settings),
            buckets=TokenBucket(settings.rate_per_second, settings.rate_burst),
            serving=ServingProcess(threads=settings.serving_threads),
        )

    def database_ok(self) -> bool:
        with self.db.session() as s:
            s.execute(text("SELECT 1"))
        return True

    def workers_alive(self) -> int:
        cutoff = utcnow() - timedelta(seconds=3 * self.settings.heartbeat_seconds)
        with self.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(WorkerBeat)
                    .where(WorkerBeat.last_seen > cutoff)
                )
                or 0
            )

    def workers_ok(self) -> bool:
        return self.workers_alive() > 0
