"""qnvlink: place a job's ranks on a GPU fabric (a builder's fabric, posted traffic)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from qservice.api_deps import Compute, Read
from qservice.errors import InvalidInput, LimitExceeded
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/fabric", tags=["qnvlink"])

MAX_RANKS = 256
Finite = Annotated[float, Field(allow_inf_nan=False, ge=0)]


class MappingRequest(BaseModel):
    fabric: str = Field(
        "dgx_h100", max_length=50, description="a builder from GET /v1/fabric/builders"
    )
    nodes: int = Field(1, ge=1, le=32)
    topology: Literal["rail", "fat-tree"] = "rail"
    traffic: list[list[Finite]] = Field(description="[ranks][ranks] bytes sent, zero diagonal")
    method: str = Field("best", max_length=30)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    time_limit: float | None = Field(None, gt=0, le=30)


@router.get("/builders", response_model=list[str])
def builders(principal: Read) -> list[str]:
    from qnvlink.builders import BUILDERS

    return sorted(BUILDERS)


@router.post("/mappings", response_model=dict[str, Any])
def mapping(body: MappingRequest, principal: Compute) -> dict[str, Any]:
    """Rank-to-GPU mapping minimising hop-bytes and congestion, with simulated metrics."""
    import qnvlink

    ranks = len(body.traffic)
    if not 1 <= ranks <= MAX_RANKS:
        raise LimitExceeded(f"traffic: {ranks} ranks; give 1 to {MAX_RANKS}")
    if any(len(row) != ranks for row in body.traffic):
        raise InvalidInput(f"traffic: must be square, {ranks} values in every row")
    with package_errors(qnvlink.QnvlinkError):
        fabric = qnvlink.build(body.fabric, body.nodes, topology=body.topology)
        plan = qnvlink.map_ranks(
            fabric,
            np.asarray(body.traffic, dtype=np.float64),
            body.method,
            seed=body.seed,
            time_limit=body.time_limit,
        )
    return plan.to_dict()
