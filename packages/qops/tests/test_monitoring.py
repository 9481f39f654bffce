"""Metrics, optimisation-run metrics from a real qcore.solve, health checks, alerting
(no storm on a flapping metric) and a webhook delivered to a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import threading
import time

import dimod
import pytest
import qcore

from qops.detectors import RobustZDetector
from qops.errors import InvalidConfig, InvalidSeries
from qops.monitoring import (
    AlertManager,
    AnomalyRule,
    HealthRegistry,
    LogNotifier,
    MetricsRegistry,
    RecordingNotifier,
    SolveMetrics,
    ThresholdRule,
    WebhookNotifier,
)

# --- metrics -------------------------------------------------------------------------------


def test_track_times_calls_and_counts_errors_by_type() -> None:
    metrics = MetricsRegistry("test")
    with metrics.track("load"):
        pass
    with pytest.raises(KeyError), metrics.track("load"):
        raise KeyError("x")
    assert metrics.value("test_operation_calls_total", {"operation": "load", "outcome": "ok"}) == 1
    assert (
        metrics.value("test_operation_calls_total", {"operation": "load", "outcome": "error"}) == 1
    )
    assert (
        metrics.value("test_operation_errors_total", {"operation": "load", "error": "KeyError"})
        == 1
    )
    assert metrics.value("test_operation_seconds_count", {"operation": "load"}) == 2
    text = metrics.exposition().decode()
    assert 'test_operation_seconds_bucket{le="0.001",operation="load"}' in text


def test_metrics_endpoint_serves_the_registry_over_http() -> None:
    import wsgiref.simple_server

    import httpx

    metrics = MetricsRegistry("served")
    metrics.counter("jobs", "Jobs done.").inc(3)

    class Quiet(wsgiref.simple_server.WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, metrics.wsgi_app(), handler_class=Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    assert "served_jobs_total 3.0" in response.text
    assert callable(metrics.asgi_app())


def test_instrument_decorates_sync_and_async() -> None:
    metrics = MetricsRegistry("app")

    @metrics.instrument("sync_op")
    def add(a: int, b: int) -> int:
        return a + b

    @metrics.instrument()
    async def fetch() -> str:
        return "ok"

    assert add(1, 2) == 3 and asyncio.run(fetch()) == "ok"
    assert (
        metrics.value("app_operation_calls_total", {"operation": "sync_op", "outcome": "ok"}) == 1
    )
    name = fetch.__qualname__
    assert metrics.value("app_operation_calls_total", {"operation": name, "outcome": "ok"}) == 1


def test_metric_constructors_share_and_refuse_kind_clashes() -> None:
    metrics = MetricsRegistry("x")
    assert metrics.counter("jobs", "Jobs.") is metrics.counter("jobs", "Jobs.")
    with pytest.raises(ValueError, match="already exists as a Counter"):
        metrics.gauge("jobs", "Jobs.")


def test_solve_metrics_from_a_real_qcore_solve() -> None:
    metrics = MetricsRegistry("qf")
    solve_metrics = SolveMetrics(metrics)
    bqm = dimod.BinaryQuadraticModel({"a": 1.0, "b": -1.0}, {("a", "b"): 2.0}, 0.0, "BINARY")
    result = qcore.solve(bqm, solver="exact")
    gap = solve_metrics.record(result, reference_energy=-1.0)
    assert gap == pytest.approx(0.0)
    assert metrics.value("qf_solve_runs_total", {"solver": "exact"}) == 1
    assert metrics.value("qf_solve_energy", {"solver": "exact"}) == pytest.approx(-1.0)
    assert metrics.value("qf_solve_proven_optimal_total", {"solver": "exact"}) == 1
    assert metrics.value("qf_solve_relative_gap_count", {"solver": "exact"}) == 1


def test_solve_metrics_count_fallbacks() -> None:
    metrics = MetricsRegistry("qf")
    bqm = dimod.BinaryQuadraticModel({"a": 1.0}, {}, 0.0, "BINARY")
    result = qcore.solve(bqm, solver="exact")
    with_failure = qcore.solve.__globals__["SolveResult"](
        result.sampleset,
        "exact",
        [qcore.solve.__globals__["Attempt"]("azure", "SolverUnavailable", "no key", 0.01)],
        0.02,
        True,
    )
    SolveMetrics(metrics).record(with_failure)
    assert (
        metrics.value("qf_solve_fallbacks_total", {"solver": "azure", "error": "SolverUnavailable"})
        == 1
    )


# --- health --------------------------------------------------------------------------------


def test_readiness_names_the_failing_and_the_slow_check() -> None:
    health = HealthRegistry()
    release = threading.Event()
    health.register("process", lambda: True, liveness=True)
    health.register("database", lambda: False)
    health.register("solver_pool", lambda: release.wait(5), timeout=0.05)

    @health.check("cache")
    def cache() -> None:
        raise ConnectionError("refused")

    live = health.liveness()
    assert live.healthy and [c.name for c in live.checks] == ["process"]
    ready = health.readiness()
    release.set()
    assert not ready.healthy and ready.status_code == 503
    assert ready.failing == ["database", "solver_pool", "cache"]
    details = ready.as_dict()["checks"]
    assert details["solver_pool"]["detail"] == "timed out after 0.05s"
    assert details["cache"]["detail"] == "ConnectionError: refused"


def test_async_readiness_runs_checks_concurrently() -> None:
    health = HealthRegistry()

    async def slow_ok() -> bool:
        await asyncio.sleep(0.05)
        return True

    async def hangs() -> bool:
        await asyncio.sleep(5)
        return True

    health.register("a", slow_ok, timeout=1)
    health.register("b", slow_ok, timeout=1)
    health.register("hang", hangs, timeout=0.1)
    health.register("sync", lambda: True, timeout=1)
    report = asyncio.run(health.readiness_async())
    assert report.failing == ["hang"]


def test_health_registration_is_checked() -> None:
    health = HealthRegistry()
    health.register("a", lambda: True)
    with pytest.raises(InvalidConfig, match="already registered"):
        health.register("a", lambda: True)
    with pytest.raises(InvalidConfig, match="timeout"):
        health.register("b", lambda: True, timeout=0)


# --- alerting ------------------------------------------------------------------------------


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_flapping_metric_does_not_storm() -> None:
    clock, sink = StepClock(), RecordingNotifier()
    rule = ThresholdRule("high_latency", "latency_ms", ">", 500.0, labels={"service": "api"})
    manager = AlertManager(
        [rule], [sink], for_count=2, resolve_count=3, cooldown=600.0, clock=clock
    )
    # one hour of a metric flapping every sample (10 s apart), plus runs of breaches
    pattern = [900, 100] * 30 + [900] * 5 + [100] * 4 + ([900] * 3 + [100] * 4) * 40
    for value in pattern:
        manager.observe("latency_ms", value)
        clock.now += 10.0
    firing = [a for a in sink.alerts if a.state == "firing"]
    breaches = sum(v > 500 for v in pattern)
    # alternating values never satisfy for_count=2; runs do, at most once per cool-down
    duration = clock.now
    assert 1 <= len(firing) <= 1 + duration // 600
    assert len(sink.alerts) <= 2 * len(firing)
    assert breaches > 10 * len(firing)
    assert manager.suppressed("high_latency") > 0
    assert firing[0].fingerprint == "high_latency|service=api"


def test_alert_fires_once_then_resolves_then_respects_cooldown() -> None:
    clock, sink = StepClock(), RecordingNotifier()
    manager = AlertManager(
        [ThresholdRule("cpu", "cpu", ">=", 0.9)],
        [sink],
        for_count=1,
        resolve_count=2,
        cooldown=100.0,
        clock=clock,
    )
    for value in [0.95, 0.97, 0.99]:
        manager.observe("cpu", value)
    assert [a.state for a in sink.alerts] == ["firing"]
    manager.observe("cpu", 0.1)
    manager.observe("cpu", 0.1)
    assert [a.state for a in sink.alerts] == ["firing", "resolved"]
    clock.now = 50.0
    manager.observe("cpu", 0.95)  # in cool-down: suppressed
    assert len(sink.alerts) == 2
    clock.now = 101.0
    manager.observe("cpu", 0.95)  # cool-down over, still breaching: fires again
    assert [a.state for a in sink.alerts] == ["firing", "resolved", "firing"]


def test_anomaly_rule_alerts_on_a_spike_and_log_notifier_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rule = AnomalyRule("latency_anomaly", "latency", RobustZDetector(window=50), min_score=0.9)
    manager = AlertManager([rule], [LogNotifier()], cooldown=0.0)
    with caplog.at_level(logging.WARNING, logger="qops.alerts"):
        for i in range(100):
            manager.observe("latency", 100.0 + (i % 5))
        assert manager.firing() == []
        sent = manager.observe("latency", 1000.0)
    assert [a.rule for a in sent] == ["latency_anomaly"]
    assert "latency_anomaly" in caplog.text


def test_alerting_refuses_bad_input() -> None:
    with pytest.raises(InvalidConfig, match="comparison"):
        ThresholdRule("r", "m", "=>", 1.0)
    manager = AlertManager([ThresholdRule("r", "m", ">", 1.0)], [])
    with pytest.raises(InvalidSeries, match="m: non-finite"):
        manager.observe("m", float("nan"))
    with pytest.raises(InvalidConfig, match="two rules"):
        AlertManager([ThresholdRule("r", "m", ">", 1.0)] * 2, [])
    with pytest.raises(InvalidConfig, match="url"):
        WebhookNotifier("ftp://example")


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_next = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_next:
            type(self).fail_next = False
            self.send_response(500)
        else:
            type(self).received.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_delivers_to_a_loopback_server() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        webhook = WebhookNotifier(url, timeout=5)
        clock = StepClock()
        manager = AlertManager(
            [ThresholdRule("errors", "error_rate", ">", 0.05)],
            [webhook],
            resolve_count=1,
            cooldown=0,
            clock=clock,
        )
        _Collector.fail_next = True
        manager.observe("error_rate", 0.2)  # delivery fails: counted, not raised
        manager.observe("error_rate", 0.0)  # resolved: delivered
        manager.observe("error_rate", 0.3)  # fires again: delivered
        webhook.close()
        deadline = time.monotonic() + 5
        while len(_Collector.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert webhook.failures == 1 and webhook.delivered == 2
        assert [m["state"] for m in _Collector.received] == ["resolved", "firing"]
        assert _Collector.received[1]["rule"] == "errors"
        assert _Collector.received[1]["value"] == pytest.approx(0.3)
    finally:
        server.shutdown()
        server.server_close()
