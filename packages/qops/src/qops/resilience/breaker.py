"""Circuit breaker: closed -> open after ``failure_threshold`` consecutive failures; open refuses
calls (``CircuitOpen``) until ``reset_timeout`` has passed; then half-open lets
``half_open_max_calls`` trial calls through: ``success_threshold`` successes close it, one
failure opens it again. Exceptions in ``excluded`` pass through without counting (they are
the caller's errors, not the dependency's). Listeners hear every transition. The clock is
injectable, so every transition is testable without sleeping."""

from __future__ import annotations

import enum
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from qops.errors import CircuitOpen, InvalidConfig
from qops.validation import check_int, check_number

__all__ = ["BreakerState", "CircuitBreaker", "Transition"]

T = TypeVar("T")


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Transition:
    breaker: str
    old: BreakerState
    new: BreakerState
    at: float
    reason: str


Listener = Callable[[Transition], None]


class CircuitBreaker:
    def __init__(
        self,
        name: str = "breaker",
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        success_threshold: int = 1,
        half_open_max_calls: int = 1,
        excluded: tuple[type[BaseException], ...] = (),
        listeners: list[Listener] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = check_int("failure_threshold", failure_threshold, low=1)
        self.reset_timeout = check_number("reset_timeout", reset_timeout, low=0.0)
        self.success_threshold = check_int("success_threshold", success_threshold, low=1)
        self.half_open_max_calls = check_int("half_open_max_calls", half_open_max_calls, low=1)
        if not all(isinstance(e, type) and issubclass(e, BaseException) for e in excluded):
            raise InvalidConfig(f"excluded: expected exception classes, got {excluded!r}.")
        self.excluded = tuple(excluded)
        self.listeners: list[Listener] = list(listeners or [])
        self.clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._successes = 0
        self._in_flight = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._maybe_half_open()
            return self._state

    def _move(self, new: BreakerState, reason: str) -> None:
        old = self._state
        self._state = new
        self._failures = 0
        self._successes = 0
        self._in_flight = 0
        if new is BreakerState.OPEN:
            self._opened_at = self.clock()
        event = Transition(self.name, old, new, self.clock(), reason)
        for listener in self.listeners:
            listener(event)

    def _maybe_half_open(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self.clock() - self._opened_at >= self.reset_timeout
        ):
            self._move(BreakerState.HALF_OPEN, f"reset timeout of {self.reset_timeout}s passed")

    def _before_call(self) -> None:
        with self._lock:
            self._maybe_half_open()
            if self._state is BreakerState.OPEN:
                left = self.reset_timeout - (self.clock() - self._opened_at)
                raise CircuitOpen(f"circuit {self.name!r} is open; retry in {left:.1f}s.")
            if self._state is BreakerState.HALF_OPEN:
                if self._in_flight >= self.half_open_max_calls:
                    raise CircuitOpen(
                        f"circuit {self.name!r} is half-open and its "
                        f"{self.half_open_max_calls} trial call(s) are taken."
                    )
                self._in_flight += 1

    def record_success(self) -> None:
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._successes += 1
                self._in_flight = max(0, self._in_flight - 1)
                if self._successes >= self.success_threshold:
                    self._move(BreakerState.CLOSED, f"{self._successes} trial call(s) succeeded")
            else:
                self._failures = 0

    def record_failure(self, exc: BaseException | None = None) -> None:
        what = "a failure" if exc is None else type(exc).__name__
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._move(BreakerState.OPEN, f"trial call failed: {what}")
            elif self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._move(
                        BreakerState.OPEN, f"{self.failure_threshold} consecutive failures ({what})"
                    )

    def _after_error(self, exc: BaseException) -> None:
        if isinstance(exc, self.excluded):
            with self._lock:  # not the dependency's fault: it neither fails nor succeeds
                if self._state is BreakerState.HALF_OPEN:
                    self._in_flight = max(0, self._in_flight - 1)
            return
        self.record_failure(exc)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self._before_call()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._after_error(exc)
            raise
        self.record_success()
        return result

    async def call_async(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        self._before_call()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._after_error(exc)
            raise
        self.record_success()
        return result

    @contextmanager
    def guard(self):  # type: ignore[no-untyped-def]
        """``with breaker.guard(): ...``: the block counts as one call."""
        self._before_call()
        try:
            yield self
        except BaseException as exc:
            self._after_error(exc)
            raise
        self.record_success()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator for sync and async functions."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.call_async(fn, *args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(fn, *args, **kwargs)

        return wrapper
