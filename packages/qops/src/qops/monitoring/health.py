"""Health checks: named checks with a timeout each, aggregated into liveness and readiness.

A check is a callable (sync or async) returning truthy/None for healthy; returning False,
raising, or running past its timeout is unhealthy. Liveness asks only the checks marked
``liveness=True`` (is the process able to work at all?); readiness asks every check (may it
take traffic now?). Each answer names the checks that failed and why.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qops.errors import CallTimeout, InvalidConfig
from qops.resilience.timeouts import call_with_timeout, call_with_timeout_async
from qops.validation import check_number

__all__ = ["CheckResult", "HealthRegistry", "HealthReport"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    healthy: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class HealthReport:
    kind: str  # "liveness" or "readiness"
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.checks)

    @property
    def failing(self) -> list[str]:
        return [c.name for c in self.checks if not c.healthy]

    @property
    def status_code(self) -> int:
        """What an HTTP probe endpoint answers: 200 healthy, 503 not."""
        return 200 if self.healthy else 503

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "failing",
            "failing": self.failing,
            "checks": {
                c.name: {"healthy": c.healthy, "detail": c.detail, "seconds": round(c.seconds, 6)}
                for c in self.checks
            },
        }


@dataclass(frozen=True)
class _Check:
    fn: Callable[[], Any]
    timeout: float
    liveness: bool


class HealthRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, _Check] = {}

    def register(
        self, name: str, fn: Callable[[], Any], timeout: float = 2.0, liveness: bool = False
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidConfig(f"name: expected a non-empty string, got {name!r}.")
        if name in self._checks:
            raise InvalidConfig(f"name: a check named {name!r} is already registered.")
        if not callable(fn):
            raise InvalidConfig(f"fn: expected a callable for check {name!r}, got {fn!r}.")
        limit = check_number("timeout", timeout, low=0.0, low_open=True)
        self._checks[name] = _Check(fn, limit, bool(liveness))

    def check(self, name: str, timeout: float = 2.0, liveness: bool = False):  # type: ignore[no-untyped-def]
        """Decorator form of :meth:`register`."""

        def decorate(fn: Callable[[], Any]) -> Callable[[], Any]:
            self.register(name, fn, timeout, liveness)
            return fn

        return decorate

    @staticmethod
    def _verdict(name: str, outcome: Any, started: float) -> CheckResult:
        healthy = outcome is None or bool(outcome)
        return CheckResult(
            name,
            healthy,
            "ok" if healthy else "check returned False",
            time.perf_counter() - started,
        )

    def _run(self, name: str, check: _Check) -> CheckResult:
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(check.fn):
                outcome = asyncio.run(call_with_timeout_async(check.timeout, check.fn))
            else:
                outcome = call_with_timeout(check.timeout, check.fn)
        except CallTimeout:
            return CheckResult(
                name, False, f"timed out after {check.timeout}s", time.perf_counter() - started
            )
        except Exception as exc:
            return CheckResult(
                name, False, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
            )
        return self._verdict(name, outcome, started)

    async def _run_async(self, name: str, check: _Check) -> CheckResult:
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(check.fn):
                outcome = await call_with_timeout_async(check.timeout, check.fn)
            else:
                outcome = await call_with_timeout_async(check.timeout, asyncio.to_thread, check.fn)
        except CallTimeout:
            return CheckResult(
                name, False, f"timed out after {check.timeout}s", time.perf_counter() - started
            )
        except Exception as exc:
            return CheckResult(
                name, False, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
            )
        return self._verdict(name, outcome, started)

    def _selected(self, kind: str) -> dict[str, _Check]:
        return {n: c for n, c in self._checks.items() if kind == "readiness" or c.liveness}

    def liveness(self) -> HealthReport:
        return HealthReport(
            "liveness", [self._run(n, c) for n, c in self._selected("liveness").items()]
        )

    def readiness(self) -> HealthReport:
        return HealthReport(
            "readiness", [self._run(n, c) for n, c in self._selected("readiness").items()]
        )

    async def readiness_async(self) -> HealthReport:
        """Every check at once (each still bounded by its own timeout)."""
        chosen = self._selected("readiness")
        results = await asyncio.gather(*(self._run_async(n, c) for n, c in chosen.items()))
        return HealthReport("readiness", list(results))

    async def liveness_async(self) -> HealthReport:
        chosen = self._selected("liveness")
        results = await asyncio.gather(*(self._run_async(n, c) for n, c in chosen.items()))
        return HealthReport("liveness", list(results))
