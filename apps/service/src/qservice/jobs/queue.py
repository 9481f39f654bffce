"""The queue between the API and the workers: huey.

Embedded default: huey's ``SqliteHuey`` in a file beside the job store (nothing else to
install, survives a restart). PostgreSQL: huey's ``SqlHuey`` (through peewee) in the same
database, so workers on other machines need only the database URL. huey carries the job id;
the job itself (params, state, lease, result) lives in our tables, so a message huey loses
with a killed worker is recovered by the lease reaper, and a duplicate message is harmless
(a claim needs ``status='queued'``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from huey import Huey, SqliteHuey

from qservice.config import Settings

TASK_NAME = "qservice.run_job"


def _sqlite_path(url: str) -> Path:
    path = url.split("sqlite:///", 1)[1] if "sqlite:///" in url else ""
    if not path or path == ":memory:":
        raise ValueError("database_url: the embedded queue needs a SQLite file, not :memory:")
    return Path(path)


class JobQueue:
    """A huey instance with the one task the service enqueues: run job ``job_id``."""

    def __init__(self, settings: Settings, handler: Callable[[str], None] | None = None) -> None:
        self.huey = make_huey(settings)
        self._handler = handler
        self.run_job = self.huey.task(name=TASK_NAME)(self._dispatch)

    def _dispatch(self, job_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("this JobQueue only enqueues; a worker sets a handler")
        self._handler(job_id)

    def enqueue(self, job_id: str) -> None:
        self.run_job(job_id)

    def pending(self) -> int:
        return int(self.huey.pending_count())


def make_huey(settings: Settings) -> Huey:
    if settings.is_sqlite:
        db_path = _sqlite_path(settings.database_url)
        queue_file = db_path.with_name(db_path.stem + ".queue" + (db_path.suffix or ".db"))
        return SqliteHuey(name="qservice", filename=str(queue_file), results=False, timeout=30)
    try:
        from huey.contrib.sql_huey import SqlHuey
    except ImportError as exc:  # peewee missing
        raise ImportError(
            "a PostgreSQL queue needs peewee and psycopg2: pip install 'qservice[postgres]'"
        ) from exc
    url = settings.database_url.replace("postgresql+psycopg2://", "postgresql://")
    return SqlHuey(name="qservice", database=url, results=False)
