"""/healthz (liveness), /readyz (database and workers), /metrics (Prometheus, through qops)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from qservice.api_deps import State
from qservice.models import Job

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=dict[str, Any])
async def healthz(state: State) -> JSONResponse:
    report = await state.health.liveness_async()
    return JSONResponse(report.as_dict(), status_code=report.status_code)


@router.get("/readyz", response_model=dict[str, Any], responses={503: {"description": "not ready"}})
async def readyz(state: State) -> JSONResponse:
    report = await state.health.readiness_async()
    return JSONResponse(report.as_dict(), status_code=report.status_code)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(state: State) -> Response:
    from qops.monitoring import CONTENT_TYPE_LATEST

    with state.db.session() as s:
        counts = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        state.jobs.labels(status).set(counts.get(status, 0))
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
