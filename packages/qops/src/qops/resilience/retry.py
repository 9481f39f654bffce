"""Retry with exponential backoff and full jitter, on tenacity.

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): before retry ``n``
(1-based) sleep ``uniform(0, min(cap, base * 2**(n-1)))``. The random source is an explicit
``random.Random`` so a seed fixes the delays.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

import tenacity
from tenacity.wait import wait_base

from qops.validation import check_int, check_number

__all__ = ["FullJitterWait", "async_retrying", "retry", "retrying"]

F = TypeVar("F", bound=Callable[..., Any])


class FullJitterWait(wait_base):
    """tenacity wait strategy: ``uniform(0, min(cap, base * 2**(attempt-1)))`` seconds."""

    def __init__(self, base: float = 0.1, cap: float = 10.0, rng: random.Random | None = None):
        self.base = check_number("base", base, low=0.0, low_open=True)
        self.cap = check_number("cap", cap, low=0.0, low_open=True)
        self.rng = rng if rng is not None else random.Random()

    def ceiling(self, attempt: int) -> float:
        """The most this wait can be after ``attempt`` failed attempts."""
        exponent = min(attempt - 1, 1000)  # 2**1000 is already far beyond any cap
        return min(self.cap, self.base * 2.0**exponent)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self.rng.uniform(0.0, self.ceiling(retry_state.attempt_number))


def _settings(
    attempts: int,
    base: float,
    cap: float,
    retry_on: tuple[type[BaseException], ...],
    seed: int | None,
    sleep: Callable[[float], Any] | None,
) -> dict[str, Any]:
    check_int("attempts", attempts, low=1)
    if not retry_on or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in retry_on
    ):
        from qops.errors import InvalidConfig

        raise InvalidConfig(f"retry_on: expected exception classes, got {retry_on!r}.")
    settings: dict[str, Any] = {
        "stop": tenacity.stop_after_attempt(attempts),
        "wait": FullJitterWait(base, cap, random.Random(seed)),
        "retry": tenacity.retry_if_exception_type(retry_on),
        "reraise": True,  # the caller sees the last real error, not tenacity's RetryError
    }
    if sleep is not None:
        settings["sleep"] = sleep
    return settings


def retrying(
    attempts: int = 3,
    base: float = 0.1,
    cap: float = 10.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    seed: int | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> tenacity.Retrying:
    """A ``tenacity.Retrying`` with our defaults: ``for attempt in retrying(): with attempt: ...``
    or ``retrying()(fn, *args)``."""
    return tenacity.Retrying(**_settings(attempts, base, cap, retry_on, seed, sleep))


def async_retrying(
    attempts: int = 3,
    base: float = 0.1,
    cap: float = 10.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    seed: int | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> tenacity.AsyncRetrying:
    """The async twin of :func:`retrying` (``sleep`` must then be a coroutine function)."""
    return tenacity.AsyncRetrying(**_settings(attempts, base, cap, retry_on, seed, sleep))


def retry(
    attempts: int = 3,
    base: float = 0.1,
    cap: float = 10.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    seed: int | None = None,
) -> Callable[[F], F]:
    """Decorator for sync and async functions: retry ``retry_on`` errors with full jitter."""
    return tenacity.retry(**_settings(attempts, base, cap, retry_on, seed, None))
