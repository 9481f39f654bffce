"""qenergy: start times (and power caps) for GPU jobs under a facility power budget."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictInt, StrictStr

from qservice.api_deps import Compute
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/energy", tags=["qenergy"])

MAX_JOBS = 200
Finite = Annotated[float, Field(allow_inf_nan=False)]
Value = StrictStr | StrictInt | Finite


class ClusterIn(BaseModel):
    gpus: int = Field(ge=1, le=100_000)
    power_budget_w: Finite = Field(gt=0)
    idle_w_per_gpu: Finite = Field(75.0, ge=0)
    gpus_per_node: int = Field(8, ge=1, le=1024)


class ScheduleRequest(BaseModel):
    jobs: list[dict[Annotated[str, Field(max_length=50)], Value]] = Field(
        min_length=1,
        max_length=MAX_JOBS,
        description="rows with job_id, gpus, duration_s, submit_s, deadline_s, power_w",
    )
    cluster: ClusterIn
    method: str = Field("auto", max_length=20, description="auto, list, edf, cpsat, qubo, ...")
    objective: Literal["peak", "energy"] = "peak"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    time_limit: float | None = Field(None, gt=0, le=30)
    caps: list[Annotated[float, Field(gt=0, le=1)]] | None = Field(None, max_length=8)


@router.post("/schedules", response_model=dict[str, Any])
def schedule(body: ScheduleRequest, principal: Compute) -> dict[str, Any]:
    """A power-capped schedule, checked by qenergy's own feasibility checker."""
    import qenergy

    with package_errors(qenergy.QenergyError):
        cluster = qenergy.Cluster(**body.cluster.model_dump())
        result = qenergy.schedule(
            body.jobs,
            cluster,
            method=body.method,
            objective=body.objective,
            seed=body.seed,
            time_limit=body.time_limit,
            caps=body.caps,
            workers=1,
        )
    return json.loads(result.to_json())
