"""qhpo: hyperparameter studies over HTTP: create, ask, tell, best.

Each study is a qhpo ``Study`` with its own JSON storage file under the data folder (qhpo
rewrites it atomically on every ask and tell), reopened per request under a per-study lock.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from qservice.api_deps import Compute, Read, State
from qservice.errors import NotFound
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/studies", tags=["qhpo"])

StudyId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class StudyRequest(BaseModel):
    space: dict[str, dict[str, Any]] = Field(
        min_length=1, max_length=50, description='{"lr": {"type": "float", "low": ..., ...}}'
    )
    optimizer: str = Field("gp", max_length=20, description="gp, vqc, hybrid, random, sobol")
    seed: int = Field(0, ge=0, le=2**32 - 1)


class StudyOut(BaseModel):
    id: str
    optimizer: str
    space: dict[str, Any]
    trials: int


class TrialOut(BaseModel):
    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    error: str | None


class TellRequest(BaseModel):
    number: int = Field(ge=0)
    value: float = Field(description="lower is better; NaN or inf marks the trial failed")


def _paths(data_dir: Path, study_id: str) -> tuple[Path, Path]:
    folder = data_dir / "studies"
    return folder / f"{study_id}.json", folder / f"{study_id}.meta.json"


def _lock(study_id: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(study_id, threading.Lock())


def _open(data_dir: Path, study_id: str):  # type: ignore[no-untyped-def]
    import qhpo

    storage, meta_path = _paths(data_dir, study_id)
    if not meta_path.exists():
        raise NotFound(f"study {study_id}: no such study")
    meta = json.loads(meta_path.read_text())
    with package_errors(qhpo.QhpoError):
        return qhpo.Study(meta["space"], meta["optimizer"], seed=meta["seed"], storage=storage)


def _trial(t: Any) -> TrialOut:
    return TrialOut(
        number=t.number, params=t.params, state=t.state.value, value=t.value, error=t.error
    )


@router.post("", status_code=201, response_model=StudyOut)
def create(body: StudyRequest, state: State, principal: Compute) -> StudyOut:
    import qhpo

    with package_errors(qhpo.QhpoError):
        study = qhpo.Study(body.space, body.optimizer, seed=body.seed)  # validates both
    study_id = uuid.uuid4().hex
    _, meta_path = _paths(state.settings.data_dir, study_id)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"space": study.space.to_dict(), "optimizer": body.optimizer, "seed": body.seed}
    meta_path.write_text(json.dumps(meta))
    return StudyOut(id=study_id, optimizer=body.optimizer, space=meta["space"], trials=0)


@router.post("/{study_id}/ask", response_model=TrialOut)
def ask(study_id: StudyId, state: State, principal: Compute) -> TrialOut:
    """The next configuration to evaluate (a pending trial)."""
    import qhpo

    with _lock(study_id):
        study = _open(state.settings.data_dir, study_id)
        with package_errors(qhpo.QhpoError):
            return _trial(study.ask())


@router.post("/{study_id}/tell", response_model=TrialOut)
def tell(study_id: StudyId, body: TellRequest, state: State, principal: Compute) -> TrialOut:
    import qhpo

    with _lock(study_id):
        study = _open(state.settings.data_dir, study_id)
        with package_errors(qhpo.QhpoError):
            return _trial(study.tell(body.number, body.value))


@router.get("/{study_id}/best", response_model=TrialOut)
def best(study_id: StudyId, state: State, principal: Read) -> TrialOut:
    import qhpo

    with _lock(study_id):
        study = _open(state.settings.data_dir, study_id)
        with package_errors(qhpo.QhpoError, ValueError):
            return _trial(study.best_trial)
