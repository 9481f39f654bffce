"""Deadlines for calls: sync (the call runs in a worker thread) and async (asyncio)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from qops.errors import CallTimeout
from qops.validation import check_number

__all__ = ["call_with_timeout", "call_with_timeout_async", "timeout"]

T = TypeVar("T")


def call_with_timeout(seconds: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args)`` or ``CallTimeout`` after ``seconds``. Python cannot kill a thread: a call
    that overruns keeps running in its worker thread, but the caller gets control back."""
    limit = check_number("seconds", seconds, low=0.0, low_open=True)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="qops-timeout")
    try:
        future = pool.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            raise CallTimeout(
                f"{getattr(fn, '__name__', 'call')} took longer than {limit}s."
            ) from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def call_with_timeout_async(
    seconds: float, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T:
    """Await ``fn(*args)``; cancel it and raise ``CallTimeout`` after ``seconds``."""
    limit = check_number("seconds", seconds, low=0.0, low_open=True)
    try:
        return await asyncio.wait_for(fn(*args, **kwargs), timeout=limit)
    except TimeoutError:
        raise CallTimeout(f"{getattr(fn, '__name__', 'call')} took longer than {limit}s.") from None


def timeout(seconds: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for sync and async functions."""
    check_number("seconds", seconds, low=0.0, low_open=True)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await call_with_timeout_async(seconds, fn, *args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return call_with_timeout(seconds, fn, *args, **kwargs)

        return wrapper

    return decorate
