"""Request limits: body size (413), per-key token bucket (429), requests in flight (503)."""

from __future__ import annotations

import json
import math
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qservice.errors import PROBLEM, problem


async def _send_problem(send: Send, status: int, title: str, detail: str, headers=()) -> None:
    body = json.dumps(problem(status, title, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over ``max_bytes``, by its Content-Length or, when it is streamed, by
    counting, before the endpoint reads it whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body: over the limit of {self.max_bytes} bytes; send less per request"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_problem(send, 413, "Content too large", detail)
                    return
        seen = 0
        answered = False  # our 413 went out: whatever the app sends after is dropped

        async def counted() -> Message:
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not answered:
                    answered = True
                    await _send_problem(send, 413, "Content too large", detail)
                    # the app sees the client go away and stops reading
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counted, guarded)


class InFlightLimit:
    """503 + Retry-After when ``limit`` requests are already being handled: overload gets a
    fast answer, not a queue that grows until clients time out."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit, self.current = app, limit, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in ("/healthz", "/readyz", "/metrics"):
            await self.app(scope, receive, send)
            return
        if self.current >= self.limit:
            await _send_problem(
                send,
                503,
                "Service overloaded",
                f"{self.limit} requests in flight; retry shortly",
                [(b"retry-after", b"1")],
            )
            return
        self.current += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.current -= 1


class TokenBucket:
    """Per-key token buckets: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: int) -> float:
        """0.0 if a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
