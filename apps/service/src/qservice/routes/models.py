"""Model serving: register a federated run's checkpoint as a model version (its ONNX export
runs as a ``model_export`` job in the worker), classify texts with it in the model-serving
process (optionally at a lower precision through qcompress)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update

from qservice.api_deps import Models, Predict, Read, State
from qservice.errors import Conflict, InvalidInput, NotFound
from qservice.jobs import store
from qservice.jobs.registry import JobContext, job_kind
from qservice.models import ModelVersion
from qservice.onnx_engine import PRECISIONS
from qservice.routes.common import iso
from qservice.routes.qflower import run_dir
from qservice.serving import checkpoint_facts
from qservice.serving_process import ServingUnavailable

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


class ExportParams(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    version: int = Field(ge=1)


def model_dir(data_dir: Path, name: str, version: int) -> Path:
    return data_dir / "models" / name / str(version)


@job_kind(
    "model_export",
    ExportParams,
    "export a registered model version to ONNX for serving (made by POST /v1/models)",
    internal=True,
)
def run_export(params: ExportParams, ctx: JobContext) -> dict[str, Any]:
    """In the worker (torch is there): merge the LoRA, export, check against torch."""
    from qservice.export import export_checkpoint

    if ctx.db is None:
        raise RuntimeError("model_export needs the job store")
    with ctx.db.session() as s:
        row = s.scalar(
            select(ModelVersion).where(
                ModelVersion.name == params.name, ModelVersion.version == params.version
            )
        )
    if row is None:
        raise InvalidInput(f"model: no version {params.version} of {params.name!r}")
    out = model_dir(ctx.data_dir, row.name, row.version)
    ctx.progress({"step": "exporting", "model": row.name, "version": row.version})
    meta = export_checkpoint(Path(row.checkpoint), list(row.info["labels"]), out)
    return {
        "serving_dir": str(out),
        "max_abs_logit_diff": meta["max_abs_logit_diff"],
        "precisions": meta["precisions"],
    }


@router.post("", status_code=201, response_model=ModelOut)
def register(body: RegisterRequest, state: State, principal: Models) -> ModelOut:
    """A new version of model ``name`` from the checkpoint of a finished federated run. Its
    ONNX export runs as a job (``info.export_job``); predict answers 503 until it is done."""
    job = store.get_job(state.db, body.job_id, principal.owner_filter)  # the caller's run
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
    export, _ = store.create_job(
        state.db,
        principal.key_id,
        "model_export",
        {"name": row.name, "version": row.version},
        None,
        state.settings.max_queued_jobs,
    )
    row.info = {**facts, "export_job": export.id}
    with state.db.session() as s:
        s.execute(update(ModelVersion).where(ModelVersion.id == row.id).values(info=row.info))
    state.queue.enqueue(export.id)
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
    if not re.fullmatch(r"[a-z0-9]+", body.precision):
        raise InvalidInput(f"precision: one of {', '.join(PRECISIONS)}")
    folder = _exported(state, row)
    reply = state.serving.predict(folder, body.precision, body.texts)
    if not reply["ok"]:
        if reply["error"] == "unavailable":
            state.serving_dirs.pop((row.name, row.version), None)
            raise NotFound(f"model {name} v{row.version}: its exported files are gone")
        if reply["error"] == "bad_request":
            raise InvalidInput(f"texts: {reply['message']}")
        raise RuntimeError(f"model {name} v{row.version}: serving failed: {reply['message']}")
    return PredictOut(
        model=row.name,
        version=row.version,
        precision=body.precision,
        predictions=[Prediction(**p) for p in reply["predictions"]],
    )


def _exported(state: Any, row: ModelVersion) -> str:
    """The exported folder of a model version, once its export job succeeded."""
    key = (row.name, row.version)
    if key in state.serving_dirs:
        return state.serving_dirs[key]
    what = f"model {row.name} v{row.version}"
    job_id = row.info.get("export_job")
    if not job_id:
        raise Conflict(f"{what}: registered without an ONNX export; register the run again")
    job = store.get_job(state.db, job_id)
    if job.status in ("queued", "running"):
        raise ServingUnavailable(f"{what}: being exported for serving (job {job_id}); retry")
    if job.status != "succeeded":
        raise Conflict(f"{what}: its export {job.status} ({job.error}); register the run again")
    state.serving_dirs[key] = job.result["serving_dir"]
    return state.serving_dirs[key]
