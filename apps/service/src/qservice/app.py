"""The FastAPI application: middleware, error handlers, routers, the lease reaper."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from qservice import __version__
from qservice.config import Settings
from qservice.errors import PROBLEM_RESPONSES, install_handlers
from qservice.jobs import store
from qservice.limits import BodyLimit, InFlightLimit
from qservice.state import ServiceState

log = logging.getLogger("qservice")


def _reap_once(state: ServiceState) -> None:
    for job_id, action in store.reap(state.db, state.settings.max_attempts):
        log.warning("job %s: lease expired, %s", job_id, action)
        if action == "requeued":
            state.queue.enqueue(job_id)


async def _reaper(state: ServiceState) -> None:
    while True:
        await asyncio.sleep(state.settings.reap_seconds)
        try:
            await asyncio.to_thread(_reap_once, state)
        except Exception:  # the database may be briefly away; try again next round
            log.warning("lease reaper failed", exc_info=True)


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or Settings()
    state = ServiceState.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(state.db.migrate)
        state.serving.start()  # the model-serving process (no model loaded until a predict)
        # messages lost between a commit and its enqueue (a crash) are sent again; a
        # duplicate is harmless, since a claim needs the job to be queued
        for job_id in await asyncio.to_thread(store.queued_ids, state.db):
            state.queue.enqueue(job_id)
        await asyncio.to_thread(_reap_once, state)
        reaper = asyncio.create_task(_reaper(state))
        try:
            yield
        finally:
            reaper.cancel()
            state.serving.stop()
            state.db.dispose()

    app = FastAPI(
        title="QuantumFlow service",
        version=__version__,
        description=(
            "Every QuantumFlow package behind one versioned API. Authenticate with "
            "`Authorization: Bearer <key>` (keys from `qservice create-key`). Errors are RFC "
            "9457 problem+json. Long work runs as jobs: POST /v1/jobs answers 202 with an id."
        ),
        lifespan=lifespan,
    )
    app.state.service = state
    install_handlers(app)

    from qservice.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router, responses=PROBLEM_RESPONSES)

    @app.middleware("http")
    async def _metrics(request: Request, call_next):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        state.requests.labels(request.method, name, str(response.status_code)).inc()
        state.latency.labels(name).observe(time.perf_counter() - start)
        return response

    if settings.cors_origins:  # off unless origins are configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
