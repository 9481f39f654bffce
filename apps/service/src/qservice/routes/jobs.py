"""Jobs: create (202 + id, Idempotency-Key), read, page, cancel, progress as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from qservice.api_deps import Jobs, Read, State
from qservice.jobs import store
from qservice.jobs.registry import public_kinds
from qservice.routes.common import JobOut, submit

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[str, Path(min_length=1, max_length=36)]


class JobRequest(BaseModel):
    kind: str = Field(min_length=1, max_length=50, description="a kind from GET /v1/jobs/kinds")
    params: dict[str, Any] = Field(default_factory=dict)


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class KindOut(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]


@router.get("/kinds", response_model=list[KindOut])
def list_kinds(principal: Read) -> list[KindOut]:
    return [
        KindOut(name=k.name, description=k.description, params_schema=k.params.model_json_schema())
        for k in public_kinds()
    ]


@router.post("", status_code=202, response_model=JobOut, responses={200: {"model": JobOut}})
def create_job(
    body: JobRequest,
    state: State,
    principal: Jobs,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Queue a job; 202 + its id. With an Idempotency-Key, the same key and body answer the
    same job (200), the same key with another body is 422."""
    return submit(state, principal, body.kind, body.params, idempotency_key, response)


@router.get("", response_model=JobPage)
def list_jobs(
    state: State,
    principal: Read,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[
        str | None, Query(pattern="^(queued|running|succeeded|failed|cancelled)$")
    ] = None,
    kind: Annotated[str | None, Query(max_length=50)] = None,
) -> JobPage:
    """This key's jobs, newest first (an admin key: every key's)."""
    rows, nxt = store.list_jobs(state.db, limit, cursor, status, kind, principal.owner_filter)
    return JobPage(items=[JobOut(**store.job_dict(j)) for j in rows], next_cursor=nxt)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, state: State, principal: Read) -> JobOut:
    """A job of this key (an admin key: any job); another key's job is 404."""
    return JobOut(**store.job_dict(store.get_job(state.db, job_id, principal.owner_filter)))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: JobId, state: State, principal: Jobs) -> JobOut:
    """A queued job is cancelled at once; a running one at its next progress report."""
    return JobOut(**store.job_dict(store.cancel_job(state.db, job_id, principal.owner_filter)))


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
    response_class=StreamingResponse,
)
async def job_events(
    job_id: JobId,
    request: Request,
    state: State,
    principal: Read,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """Server-Sent Events: every status change and progress report (rounds of a federated
    run, ...); the stream ends when the job is finished. Resume with Last-Event-ID."""
    # 404 (missing, or another key's job) before the stream starts
    await asyncio.to_thread(store.get_job, state.db, job_id, principal.owner_filter)

    async def stream():  # type: ignore[no-untyped-def]
        after = last_event_id or 0
        idle = 0.0
        while True:
            events = await asyncio.to_thread(store.events_after, state.db, job_id, after)
            for event in events:
                after = event.id
                payload = json.dumps({"type": event.type, **event.data})
                yield f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n"
            if not events:
                job = await asyncio.to_thread(store.get_job, state.db, job_id)
                if job.status in store.TERMINAL:
                    tail = await asyncio.to_thread(store.events_after, state.db, job_id, after)
                    if not tail:
                        yield "event: end\ndata: {}\n\n"
                        return
                    continue
                if await request.is_disconnected():
                    return
                idle += 0.25
                if idle >= 15:  # a comment keeps proxies from closing an idle stream
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.25)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
