"""Resilience: retry with full jitter, circuit breaker, timeouts, bulkheads, fallbacks."""

from qops.resilience.breaker import BreakerState, CircuitBreaker, Transition
from qops.resilience.bulkhead import Bulkhead
from qops.resilience.fallback import fallback
from qops.resilience.retry import FullJitterWait, async_retrying, retry, retrying
from qops.resilience.timeouts import call_with_timeout, call_with_timeout_async, timeout

__all__ = [
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "FullJitterWait",
    "Transition",
    "async_retrying",
    "call_with_timeout",
    "call_with_timeout_async",
    "fallback",
    "retry",
    "retrying",
    "timeout",
]
