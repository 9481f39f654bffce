"""qrouting: a token-to-expert routing plan for posted router scores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import qrouting
from fastapi import APIRouter
from pydantic import BaseModel, Field

from qservice.api_deps import Compute, Read
from qservice.errors import InvalidInput, LimitExceeded
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/routing", tags=["qrouting"])

MAX_TOKENS, MAX_EXPERTS = 4096, 256
Finite = Annotated[float, Field(allow_inf_nan=False)]


class RoutingRequest(BaseModel):
    scores: list[list[Finite]] = Field(description="[tokens][experts] router logits or affinities")
    router: str = Field("topk", max_length=50, description="a name from GET /v1/routing/routers")
    k: int = Field(1, ge=1, le=MAX_EXPERTS)
    capacity_factor: float = Field(1.0, gt=0, le=1000)
    capacity: int | None = Field(None, ge=1, le=MAX_TOKENS * 8)
    scores_are: Literal["logits", "affinities"] = "logits"
    on_overflow: Literal["drop", "spill"] = "drop"
    compare_exact: bool = Field(False, description="also solve the exact optimum (HiGHS)")
    options: dict[str, Any] = Field(default_factory=dict, description="the router's options")


@router.get("/routers", response_model=list[str])
def routers(principal: Read) -> list[str]:
    return list(qrouting.list_routers())


@router.post("/plans", response_model=dict[str, Any])
def plan(body: RoutingRequest, principal: Compute) -> dict[str, Any]:
    """Route tokens to experts; the plan (indices, gates, loads, drops) and its metrics."""
    tokens = len(body.scores)
    if tokens == 0 or tokens > MAX_TOKENS:
        raise LimitExceeded(f"scores: {tokens} tokens; give 1 to {MAX_TOKENS}")
    experts = len(body.scores[0])
    if experts == 0 or experts > MAX_EXPERTS:
        raise LimitExceeded(f"scores[0]: {experts} experts; give 1 to {MAX_EXPERTS}")
    if any(len(row) != experts for row in body.scores):
        raise InvalidInput(f"scores: every row needs {experts} values (one per expert)")
    if body.compare_exact and tokens * experts > 65_536:
        raise LimitExceeded("compare_exact: at most 65,536 token-expert pairs")
    with package_errors(qrouting.QroutingError, ValueError):
        result = qrouting.route(
            np.asarray(body.scores, dtype=np.float64),
            body.router,
            k=body.k,
            capacity_factor=body.capacity_factor,
            capacity=body.capacity,
            scores_are=body.scores_are,
            on_overflow=body.on_overflow,
            compare_exact=body.compare_exact,
            **body.options,
        )
    return result.to_dict()
