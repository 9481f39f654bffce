"""qensemble: pick k ensemble members from their validation probabilities (QUBO through
qcore, or Caruana's greedy baseline)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from qservice.api_deps import Compute
from qservice.errors import LimitExceeded
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
