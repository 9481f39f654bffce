"""Prometheus metrics: one registry per app, exposed on /metrics, and helpers that time calls
and count errors. Built on prometheus-client; its objects are returned as they are."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
    make_wsgi_app,
)

__all__ = ["CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "MetricsRegistry"]

# seconds: from a fast in-process call (1 ms) to a slow remote one (a minute)
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class MetricsRegistry:
    """A ``CollectorRegistry`` with a namespace, get-or-create metric constructors (so two
    modules asking for the same metric share it) and the text an app serves on /metrics."""

    def __init__(self, namespace: str = "quantumflow", registry: CollectorRegistry | None = None):
        self.namespace = namespace
        self.registry = registry if registry is not None else CollectorRegistry()
        self._metrics: dict[str, Any] = {}

    def _get(self, kind: type, name: str, documentation: str, labels: Sequence[str], **extra: Any):
        existing = self._metrics.get(name)
        if existing is not None:
            if not isinstance(existing, kind):
                raise ValueError(f"metric {name!r} already exists as a {type(existing).__name__}.")
            return existing
        metric = kind(
            name,
            documentation,
            labelnames=tuple(labels),
            namespace=self.namespace,
            registry=self.registry,
            **extra,
        )
        self._metrics[name] = metric
        return metric

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return self._get(Counter, name, documentation, labels)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, documentation, labels)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        return self._get(Histogram, name, documentation, labels, buckets=tuple(buckets))

    def exposition(self) -> bytes:
        """The text format served on /metrics (content type ``CONTENT_TYPE_LATEST``)."""
        return generate_latest(self.registry)

    def wsgi_app(self) -> Callable[..., Any]:
        """A WSGI app serving this registry (mount it on /metrics)."""
        return make_wsgi_app(self.registry)

    def asgi_app(self) -> Callable[..., Any]:
        """An ASGI app serving this registry (FastAPI: ``app.mount("/metrics", ...)``)."""
        return make_asgi_app(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The current value of one sample (full name, e.g. ``quantumflow_calls_total``)."""
        return self.registry.get_sample_value(name, labels or {})

    @contextmanager
    def track(self, operation: str) -> Iterator[None]:
        """Time the block into ``<ns>_operation_seconds{operation}`` and count
        ``<ns>_operation_calls_total{operation,outcome}`` (outcome ok/error) and
        ``<ns>_operation_errors_total{operation,error}``."""
        seconds = self.histogram(
            "operation_seconds", "Wall time of tracked operations.", ["operation"]
        )
        calls = self.counter(
            "operation_calls", "Tracked operations by outcome.", ["operation", "outcome"]
        )
        errors = self.counter(
            "operation_errors", "Errors of tracked operations by type.", ["operation", "error"]
        )
        start = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            errors.labels(operation, type(exc).__name__).inc()
            calls.labels(operation, "error").inc()
            raise
        else:
            calls.labels(operation, "ok").inc()
        finally:
            seconds.labels(operation).observe(time.perf_counter() - start)

    def instrument(self, operation: str | None = None) -> Callable[[Callable[..., Any]], Any]:
        """Decorator (sync or async) doing :meth:`track` around each call."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            name = operation or fn.__qualname__
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    with self.track(name):
                        return await fn(*args, **kwargs)

                return async_wrapper

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.track(name):
                    return fn(*args, **kwargs)

            return wrapper

        return decorate
