"""Fallbacks: when a call raises one of ``on``, answer with ``handler(exc, *args)`` instead."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from qops.errors import InvalidConfig

__all__ = ["fallback"]


def fallback(
    handler: Callable[..., Any], on: tuple[type[BaseException], ...] = (Exception,)
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for sync and async functions; ``handler`` gets the exception first, then the
    call's own arguments (it may be a coroutine function for async callers)."""
    if not callable(handler):
        raise InvalidConfig(f"handler: expected a callable, got {handler!r}.")
    if not on or not all(isinstance(e, type) and issubclass(e, BaseException) for e in on):
        raise InvalidConfig(f"on: expected exception classes, got {on!r}.")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except on as exc:
                    answer = handler(exc, *args, **kwargs)
                    return await answer if inspect.isawaitable(answer) else answer

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except on as exc:
                return handler(exc, *args, **kwargs)

        return wrapper

    return decorate
