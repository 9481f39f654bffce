"""qensemble: pick k ensemble members from their validation probabilities (QUBO through
qcore, or Caruana's greedy baseline), and train an ensemble of MLPs on posted data as a job
(members trained by qensemble's workers, combined, optionally selected)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from qservice.api_deps import Compute
from qservice.errors import LimitExceeded
from qservice.jobs.registry import JobContext, job_kind
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/ensembles", tags=["qensemble"])

MAX_MEMBERS, MAX_VALUES = 64, 1_000_000
Prob = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class SelectionRequest(BaseModel):
    probs: list[list[list[Prob]]] = Field(description="[members][samples][classes]")
    labels: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    k: int = Field(ge=1, le=MAX_MEMBERS)
    method: Literal["qubo", "caruana"] = "qubo"
    redundancy: float = Field(1.0, ge=0, le=100)
    solver: str = Field("auto", max_length=50)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    time_limit: float | None = Field(None, gt=0, le=30)


class SelectionOut(BaseModel):
    members: list[int]
    method: str
    val_accuracy: float
    info: dict[str, Any]


def _plain(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    )


@router.post("/selections", response_model=SelectionOut)
def select(body: SelectionRequest, principal: Compute) -> SelectionOut:
    import qensemble

    members = len(body.probs)
    if not 1 <= members <= MAX_MEMBERS:
        raise LimitExceeded(f"probs: {members} members; give 1 to {MAX_MEMBERS}")
    size = sum(len(row) * len(row[0]) if row else 0 for row in body.probs)
    if size > MAX_VALUES:
        raise LimitExceeded(f"probs: {size} values, over the limit of {MAX_VALUES}")
    with package_errors(qensemble.QensembleError, ValueError):
        probs = np.asarray(body.probs, dtype=np.float64)
        if body.method == "qubo":
            chosen = qensemble.qubo_select(
                probs,
                np.asarray(body.labels),
                body.k,
                redundancy=body.redundancy,
                solver=body.solver,
                seed=body.seed,
                time_limit=body.time_limit,
            )
        else:
            chosen = qensemble.caruana_select(probs, np.asarray(body.labels), body.k)
    return SelectionOut(
        members=[int(m) for m in chosen.members],
        method=chosen.method,
        val_accuracy=float(chosen.val_accuracy),
        info=_plain(chosen.info),
    )


MAX_TRAIN_VALUES, MAX_TRAIN_MEMBERS, MAX_EPOCHS = 200_000, 16, 200
Feature = Annotated[float, Field(allow_inf_nan=False)]


class TrainingParams(BaseModel):
    x: list[list[Feature]] = Field(min_length=4, description="[samples][features]")
    y: list[Annotated[int, Field(ge=0, le=1000)]] = Field(min_length=4)
    x_test: list[list[Feature]] | None = Field(None, description="scored, never trained on")
    y_test: list[Annotated[int, Field(ge=0, le=1000)]] | None = None
    members: int = Field(4, ge=1, le=MAX_TRAIN_MEMBERS)
    hidden: list[Annotated[int, Field(ge=1, le=1024)]] = Field([32], max_length=4)
    epochs: int = Field(20, ge=1, le=MAX_EPOCHS)
    view: Literal["bootstrap", "subsample", "full"] = "bootstrap"
    backend: Literal["serial", "local"] = Field(
        "serial", description="serial: in the job's worker; local: qensemble's process pool"
    )
    workers: int = Field(1, ge=1, le=4)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    select_k: int | None = Field(None, ge=1, le=MAX_TRAIN_MEMBERS)
    select_method: Literal["qubo", "caruana"] = "qubo"

    @model_validator(mode="after")
    def _consistent(self) -> TrainingParams:
        _check_training(self)
        return self


def _check_training(params: TrainingParams) -> None:
    """Shapes and sizes, checked when the job is submitted (422 naming the field)."""
    x = params.x
    width = len(x[0]) if x and x[0] else 0
    if width == 0 or any(len(row) != width for row in x):
        raise ValueError("x: give [samples][features] rows of one non-zero width")
    if len(params.y) != len(x):
        raise ValueError(f"y: {len(params.y)} labels for {len(x)} samples; give one each")
    test = params.x_test or []
    if (params.x_test is None) != (params.y_test is None):
        raise ValueError("x_test, y_test: give both or neither")
    if any(len(row) != width for row in test) or len(test) != len(params.y_test or []):
        raise ValueError(f"x_test: rows of {width} features, one label each in y_test")
    size = (len(x) + len(test)) * width
    if size > MAX_TRAIN_VALUES:
        raise ValueError(f"x, x_test: {size} values, over the limit of {MAX_TRAIN_VALUES}")
    if len(set(params.y)) < 2:
        raise ValueError("y: give at least two classes")
    if params.select_k is not None and params.select_k > params.members:
        raise ValueError(f"select_k: {params.select_k} of {params.members} members; lower it")


@job_kind("ensemble_training", TrainingParams, "train an MLP ensemble on posted data (qensemble)")
def run_training(params: TrainingParams, ctx: JobContext) -> dict[str, Any]:
    import qensemble

    x = np.asarray(params.x, dtype=np.float32)
    y = np.asarray(params.y, dtype=np.int64)
    classes = int(max(max(params.y), max(params.y_test or [0]))) + 1

    def progress(event: Any) -> None:
        ctx.progress(
            {"event": event.kind, "member": event.index, "done": event.finished, "of": event.total}
        )

    with package_errors(qensemble.QensembleError):
        ensemble = qensemble.Ensemble(
            qensemble.MLPFactory(x.shape[1], classes, hidden=tuple(params.hidden)),
            params.members,
            backend=params.backend,
            workers=params.workers,
            epochs=params.epochs,
            view=params.view,
            seed=params.seed,
            progress=progress,
        )
        ensemble.fit(x, y)
        out: dict[str, Any] = {
            "members": [
                {"index": m.index, "val_accuracy": float(m.val_accuracy), "seconds": m.seconds}
                for m in ensemble.members
            ],
            "failures": [str(f) for f in ensemble.failures],
        }
        if params.select_k is not None:
            chosen = ensemble.select(params.select_k, method=params.select_method)
            out["selection"] = {
                "members": [int(i) for i in chosen.members],
                "method": chosen.method,
                "val_accuracy": float(chosen.val_accuracy),
            }
        if params.x_test is not None:
            xt = np.asarray(params.x_test, dtype=np.float32)
            yt = np.asarray(params.y_test, dtype=np.int64)
            out["test_accuracy"] = {"mean": float(ensemble.score(xt, yt, method="mean"))}
            if params.select_k is not None:
                probs = ensemble.predict_proba(
                    xt, method="mean", members=out["selection"]["members"]
                )
                out["test_accuracy"]["selected"] = float((probs.argmax(axis=1) == yt).mean())
    return out
