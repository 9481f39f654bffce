"""Helpers every router uses: submit a job, map a package's own errors to 422."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Response
from pydantic import BaseModel, Field

from qservice.errors import InvalidInput
from qservice.jobs import store
from qservice.jobs.registry import get_kind
from qservice.security import Principal

if TYPE_CHECKING:
    from qservice.state import ServiceState


class JobOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    params: dict[str, Any]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    attempts: int
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None


def submit(
    state: ServiceState,
    principal: Principal,
    kind: str,
    params: BaseModel | dict[str, Any],
    idempotency_key: str | None,
    response: Response,
) -> JobOut:
    """Validate, store and enqueue a job; 202 with its id (200 for an idempotent repeat)."""
    job_kind = get_kind(kind, public=True)
    if isinstance(params, dict):
        try:
            params = job_kind.params.model_validate(params)
        except ValueError as exc:  # pydantic's ValidationError: name the first bad field
            errors = getattr(exc, "errors", lambda: [])()
            if errors:
                loc = ".".join(str(p) for p in errors[0]["loc"])
                msg = str(errors[0]["msg"]).removeprefix("Value error, ")
                raise InvalidInput(f"params.{loc}: {msg}" if loc else f"params: {msg}") from None
            raise InvalidInput(f"params: {exc}") from None
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput("Idempotency-Key: give 1 to 200 characters")
    data = params.model_dump(mode="json")
    job, created = store.create_job(
        state.db,
        principal.key_id,
        kind,
        data,
        idempotency_key,
        state.settings.max_queued_jobs,
    )
    if created:
        state.queue.enqueue(job.id)
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut(**store.job_dict(job))


@contextmanager
def package_errors(*types: type[BaseException]) -> Iterator[None]:
    """A package's own bad-input errors (the classes given) become 422 with its message."""
    try:
        yield
    except types as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(text) from None


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=None).isoformat() + "Z"
