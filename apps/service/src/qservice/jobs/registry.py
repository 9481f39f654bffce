"""Job kinds by name: each router module registers what its package runs as a job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from qservice.errors import InvalidInput

if TYPE_CHECKING:
    from qservice.db import Database


class JobCancelled(Exception):
    """Raised inside a job when its cancellation was requested."""


class JobContext:
    """What a running job may do: report progress, ask whether it was cancelled."""

    def __init__(
        self,
        job_id: str,
        emit: Callable[[str, dict], None],
        data_dir: Path = Path("."),
        db: Database | None = None,
    ) -> None:
        self.job_id = job_id
        self.data_dir = data_dir  # where a job may write files (its own subfolder)
        self.db = db  # the job store, for jobs that read service rows (model versions)
        self._emit = emit
        self.cancel_requested = False

    def progress(self, data: dict[str, Any], kind: str = "progress") -> None:
        self.check()
        self._emit(kind, data)

    def check(self) -> None:
        if self.cancel_requested:
            raise JobCancelled("cancelled on request")


@dataclass(frozen=True)
class JobKind:
    name: str
    params: type[BaseModel]
    run: Callable[[Any, JobContext], dict[str, Any]]
    description: str
    # made by the service itself (e.g. a model version's export), never by POST /v1/jobs
    internal: bool = False


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, params: type[BaseModel], description: str, *, internal: bool = False):  # type: ignore[no-untyped-def]
    def register(fn: Callable[[Any, JobContext], dict[str, Any]]):  # type: ignore[no-untyped-def]
        KINDS[name] = JobKind(name, params, fn, description, internal)
        return fn

    return register


def public_kinds() -> list[JobKind]:
    """The kinds a caller may submit, by name."""
    return sorted((k for k in KINDS.values() if not k.internal), key=lambda k: k.name)


def get_kind(name: str, *, public: bool = False) -> JobKind:
    """The kind ``name``; with ``public``, only one a caller may submit."""
    if name not in KINDS or (public and KINDS[name].internal):
        known = ", ".join(k.name for k in public_kinds())
        raise InvalidInput(f"kind: unknown job kind {name!r}; known: {known}")
    return KINDS[name]
