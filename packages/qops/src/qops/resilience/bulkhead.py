"""Bulkheads: at most ``max_concurrent`` calls at once; the next waits up to ``max_wait``
seconds for a slot and is then refused with ``BulkheadFull`` (0 = refuse at once)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from qops.errors import BulkheadFull
from qops.validation import check_int, check_number

__all__ = ["Bulkhead"]


class Bulkhead:
    def __init__(self, name: str = "bulkhead", max_concurrent: int = 10, max_wait: float = 0.0):
        self.name = name
        self.max_concurrent = check_int("max_concurrent", max_concurrent, low=1)
        self.max_wait = check_number("max_wait", max_wait, low=0.0)
        self._threads = threading.BoundedSemaphore(self.max_concurrent)
        self._tasks: asyncio.Semaphore | None = None
        self.active = 0
        self.rejected = 0

    def _refuse(self) -> BulkheadFull:
        self.rejected += 1
        return BulkheadFull(
            f"bulkhead {self.name!r}: all {self.max_concurrent} slots busy for {self.max_wait}s."
        )

    @contextmanager
    def slot(self) -> Iterator[None]:
        acquired = (
            self._threads.acquire(timeout=self.max_wait)
            if self.max_wait > 0
            else self._threads.acquire(blocking=False)
        )
        if not acquired:
            raise self._refuse()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._threads.release()

    @asynccontextmanager
    async def slot_async(self) -> AsyncIterator[None]:
        if self._tasks is None:
            self._tasks = asyncio.Semaphore(self.max_concurrent)
        semaphore = self._tasks
        if semaphore.locked() and self.max_wait == 0:
            raise self._refuse()
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=self.max_wait or None)
        except TimeoutError:
            raise self._refuse() from None
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            semaphore.release()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self.slot_async():
                    return await fn(*args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.slot():
                return fn(*args, **kwargs)

        return wrapper
