"""Job rows: create (with Idempotency-Key), read, page, cancel; claim, renew, finish, reap.

Every state change is one conditional UPDATE, so two workers (or a worker and the reaper) can
never both win: a claim needs ``status='queued'``, a renewal or a finish needs the lease.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from qservice.db import Database
from qservice.errors import InvalidInput, NotFound, Overloaded
from qservice.models import IdempotencyRecord, Job, JobEvent, utcnow

TERMINAL = ("succeeded", "failed", "cancelled")


def _update():  # type: ignore[no-untyped-def]
    # the WHERE clauses run in the database only: SQLite hands back naive datetimes, which
    # Python cannot compare with aware ones when syncing the session's loaded rows
    return update(Job).execution_options(synchronize_session=False)


def body_hash(kind: str, params: dict[str, Any]) -> str:
    text = json.dumps({"kind": kind, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _event(session, job_id: str, type_: str, data: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    session.add(JobEvent(job_id=job_id, type=type_, data=data))


def create_job(
    db: Database,
    key_id: int,
    kind: str,
    params: dict[str, Any],
    idempotency_key: str | None,
    max_queued: int,
) -> tuple[Job, bool]:
    """The new job and True, or the job an earlier request with this Idempotency-Key made
    and False (422 if that request had another body)."""
    digest = body_hash(kind, params)
    if idempotency_key is not None:
        earlier = _by_idempotency(db, key_id, idempotency_key, digest)
        if earlier is not None:
            return earlier, False
    with db.session() as s:
        queued = s.scalar(select(func.count()).select_from(Job).where(Job.status == "queued"))
        if queued >= max_queued:
            raise Overloaded(
                f"queue: {queued} jobs waiting (limit {max_queued}); retry later",
                headers={"Retry-After": "5"},
            )
    job_id = str(uuid.uuid4())
    try:
        with db.session() as s:
            job = Job(
                id=job_id,
                kind=kind,
                params=params,
                status="queued",
                owner_key_id=key_id,
                attempts=0,
                cancel_requested=0,
            )
            s.add(job)
            s.flush()
            _event(s, job_id, "status", {"status": "queued"})
            if idempotency_key is not None:
                s.add(
                    IdempotencyRecord(
                        key_id=key_id, key=idempotency_key, body_hash=digest, job_id=job_id
                    )
                )
    except IntegrityError:
        # a concurrent request with the same key won the race: answer with its job
        earlier = _by_idempotency(db, key_id, idempotency_key or "", digest)
        if earlier is None:
            raise
        return earlier, False
    return get_job(db, job_id), True


def _by_idempotency(db: Database, key_id: int, key: str, digest: str) -> Job | None:
    with db.session() as s:
        record = s.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.key_id == key_id, IdempotencyRecord.key == key
            )
        )
        if record is None:
            return None
        if record.body_hash != digest:
            raise InvalidInput(
                "Idempotency-Key: already used with a different body; use a new key for a "
                "new request"
            )
        return s.get(Job, record.job_id)


def get_job(db: Database, job_id: str, owner: int | None = None) -> Job:
    """The job; with ``owner`` (a key id), only a job that key created: another key's job is
    404 like a missing one, so ids of other owners' jobs are not confirmed."""
    with db.session() as s:
        job = s.get(Job, job_id)
        if job is None or (owner is not None and job.owner_key_id != owner):
            raise NotFound(f"job {job_id!r}: no such job")
        return job


def _cursor(job: Job) -> str:
    raw = f"{_iso(job.created_at)}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, job_id = raw.split("|", 1)
        return datetime.fromisoformat(stamp), job_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor: not a cursor this service gave out; use next_cursor") from None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat() + "Z"


def list_jobs(
    db: Database,
    limit: int,
    cursor: str | None,
    status: str | None,
    kind: str | None,
    owner: int | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first; keyset paging on (created_at, id), so pages do not shift as jobs arrive.
    With ``owner`` (a key id), only that key's jobs."""
    query = select(Job)
    if owner is not None:
        query = query.where(Job.owner_key_id == owner)
    if status:
        query = query.where(Job.status == status)
    if kind:
        query = query.where(Job.kind == kind)
    if cursor:
        stamp, job_id = _decode_cursor(cursor)
        query = query.where(
            or_(Job.created_at < stamp, and_(Job.created_at == stamp, Job.id < job_id))
        )
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    with db.session() as s:
        rows = list(s.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_cursor(rows[-1]) if more and rows else None)


def cancel_job(db: Database, job_id: str, owner: int | None = None) -> Job:
    now = utcnow()
    with db.session() as s:
        job = s.get(Job, job_id)
        if job is None or (owner is not None and job.owner_key_id != owner):
            raise NotFound(f"job {job_id!r}: no such job")
        done = s.execute(
            _update()
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="cancelled", finished_at=now, error="cancelled on request")
        ).rowcount
        if done:
            _event(s, job_id, "status", {"status": "cancelled"})
        else:
            # a running job stops at its next progress report (its worker sees the flag)
            s.execute(
                _update()
                .where(Job.id == job_id, Job.status == "running")
                .values(cancel_requested=1)
            )
    return get_job(db, job_id)


def events_after(db: Database, job_id: str, after: int, limit: int = 500) -> list[JobEvent]:
    with db.session() as s:
        query = (
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after)
            .order_by(JobEvent.id)
            .limit(limit)
        )
        return list(s.scalars(query))


# ---------------------------------------------------------------- worker side


def claim(db: Database, job_id: str, worker_id: str, lease: float) -> Job | None:
    now = utcnow()
    with db.session() as s:
        won = s.execute(
            _update()
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="running",
                worker_id=worker_id,
                lease_until=now + timedelta(seconds=lease),
                attempts=Job.attempts + 1,
                started_at=now,
            )
        ).rowcount
        if not won:
            return None
        _event(s, job_id, "status", {"status": "running", "worker": worker_id})
        return s.get(Job, job_id)


def renew(db: Database, job_id: str, worker_id: str, lease: float) -> tuple[bool, bool]:
    """(lease still held, cancellation requested)."""
    with db.session() as s:
        held = s.execute(
            _update()
            .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(lease_until=utcnow() + timedelta(seconds=lease))
        ).rowcount
        cancel = s.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return bool(held), bool(cancel)


def add_event(db: Database, job_id: str, type_: str, data: dict[str, Any]) -> None:
    with db.session() as s:
        _event(s, job_id, type_, data)
        if type_ == "progress":
            s.execute(_update().where(Job.id == job_id).values(progress=data))


def finish(
    db: Database,
    job_id: str,
    worker_id: str,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    with db.session() as s:
        done = s.execute(
            _update()
            .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(status=status, result=result, error=error, finished_at=utcnow())
        ).rowcount
        if done:
            _event(s, job_id, "status", {"status": status, **({"error": error} if error else {})})
    return bool(done)


def reap(db: Database, max_attempts: int) -> list[tuple[str, str]]:
    """Jobs whose lease expired (their worker died): re-queue, or fail after max_attempts.
    Returns [(job id, 'requeued' | 'failed')]; the caller enqueues the re-queued ones."""
    now = utcnow()
    out = []
    with db.session() as s:
        stale = list(s.scalars(select(Job).where(Job.status == "running", Job.lease_until < now)))
        for job in stale:
            reason = f"worker {job.worker_id} stopped renewing its lease (attempt {job.attempts})"
            if job.attempts < max_attempts:
                values: dict[str, Any] = {
                    "status": "queued",
                    "worker_id": None,
                    "lease_until": None,
                }
                action = "requeued"
            else:
                values = {
                    "status": "failed",
                    "finished_at": now,
                    "error": f"worker lost: {reason}; {max_attempts} attempt(s) used",
                }
                action = "failed"
            done = s.execute(
                _update()
                .where(Job.id == job.id, Job.status == "running", Job.lease_until < now)
                .values(**values)
            ).rowcount
            if done:
                _event(s, job.id, "status", {"status": values["status"], "reason": reason})
                out.append((job.id, action))
    return out


def release_worker(db: Database, worker_id: str) -> list[str]:
    """A worker shutting down hands its unfinished jobs back (graceful shutdown)."""
    with db.session() as s:
        ids = list(
            s.scalars(select(Job.id).where(Job.worker_id == worker_id, Job.status == "running"))
        )
        for job_id in ids:
            s.execute(
                _update()
                .where(Job.id == job_id, Job.status == "running", Job.worker_id == worker_id)
                .values(status="queued", worker_id=None, lease_until=None)
            )
            _event(s, job_id, "status", {"status": "queued", "reason": "worker shut down"})
    return ids


def queued_ids(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Job.id).where(Job.status == "queued")))


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "params": job.params,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "attempts": job.attempts,
        "progress": job.progress,
        "result": job.result,
        "error": job.error,
    }
