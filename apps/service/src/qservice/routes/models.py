"""Model serving: register a federated run's checkpoint as a model version, classify texts
with it (optionally at a lower precision through qcompress)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from qservice.api_deps import Models, Predict, Read, State
from qservice.errors import Conflict, InvalidInput, NotFound
from qservice.jobs import store
from qservice.models import ModelVersion
from qservice.routes.common import iso
from qservice.routes.qflower import run_dir
from qservice.serving import PRECISIONS, checkpoint_facts, predict

router = APIRouter(prefix="/v1/models", tags=["models"])

MAX_TEXTS, MAX_CHARS = 64, 2000
Name = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class RegisterRequest(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    job_id: str = Field(min_length=1, max_length=36, description="a succeeded federated job")


class ModelOut(BaseModel):
    name: str
    version: int
    source_job: str | None
    created_at: str | None
    info: dict[str, Any]


class PredictRequest(BaseModel):
    texts: list[Annotated[str, Field(min_length=1, max_length=MAX_CHARS)]] = Field(
        min_length=1, max_length=MAX_TEXTS
    )
    version: int | None = Field(None, ge=1, description="default: the newest")
    precision: str = Field("float32", pattern="^(" + "|".join(PRECISIONS) + ")$")


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictOut(BaseModel):
    model: str
    version: int
    precision: str
    predictions: list[Prediction]


def _out(row: ModelVersion) -> ModelOut:
    info = {k: v for k, v in row.info.items() if k != "config"}
    return ModelOut(
        name=row.name,
        version=row.version,
        source_job=row.source_job,
        created_at=iso(row.created_at),
        info=info,
    )


@router.post("", status_code=201, response_model=ModelOut)
def register(body: RegisterRequest, state: State, principal: Models) -> ModelOut:
    """A new version of model ``name`` from the checkpoint of a finished federated run."""
    job = store.get_job(state.db, body.job_id)
    if job.kind != "federated" or job.status != "succeeded":
        raise Conflict(
            f"job_id: job {job.id} is a {job.status} {job.kind} job; give a succeeded federated run"
        )
    folder = run_dir(state.settings.data_dir, job.id)
    facts = checkpoint_facts(folder)
    with state.db.session() as s:
        latest = s.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.name == body.name)
        )
        row = ModelVersion(
            name=body.name,
            version=(latest or 0) + 1,
            checkpoint=str(folder.resolve()),
            source_job=job.id,
            info=facts,
        )
        s.add(row)
    return _out(row)


@router.get("", response_model=list[ModelOut])
def list_models(state: State, principal: Read) -> list[ModelOut]:
    with state.db.session() as s:
        rows = s.scalars(select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version))
        return [_out(r) for r in rows]


def _version(state: Any, name: str, version: int | None) -> ModelVersion:
    with state.db.session() as s:
        query = select(ModelVersion).where(ModelVersion.name == name)
        query = query.where(ModelVersion.version == version) if version else query
        row = s.scalar(query.order_by(ModelVersion.version.desc()).limit(1))
    if row is None:
        what = f"version {version} of " if version else ""
        raise NotFound(f"model: no {what}{name!r}; register one with POST /v1/models")
    return row


@router.post("/{name}/predict", response_model=PredictOut)
def predict_texts(name: Name, body: PredictRequest, state: State, principal: Predict) -> PredictOut:
    """Classify up to 64 texts with the newest (or the given) version of ``name``."""
    row = _version(state, name, body.version)
    folder = Path(row.checkpoint)
    if not folder.is_dir():
        raise NotFound(f"model {name} v{row.version}: its checkpoint folder is gone")
    if not re.fullmatch(r"[a-z0-9]+", body.precision):
        raise InvalidInput(f"precision: one of {', '.join(PRECISIONS)}")
    loaded = state.models.get((row.name, row.version, body.precision), folder, row.info["labels"])
    return PredictOut(
        model=row.name,
        version=row.version,
        precision=body.precision,
        predictions=[Prediction(**p) for p in predict(loaded, body.texts)],
    )
