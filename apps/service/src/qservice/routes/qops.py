"""qops: anomaly scores for a posted series (qops' default detector unless one is named)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from qservice.api_deps import Compute, Read
from qservice.errors import InvalidInput
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/anomalies", tags=["qops"])

MAX_POINTS = 100_000
Finite = Annotated[float, Field(allow_inf_nan=False)]


class AnomalyRequest(BaseModel):
    values: list[Finite] = Field(min_length=1, max_length=MAX_POINTS)
    timestamps: list[Finite] | None = Field(None, description="seconds; one per value")
    detector: str = Field("default", max_length=50)
    threshold: float = Field(0.5, ge=0, le=1, description="a score at or above it is an anomaly")


class AnomalyOut(BaseModel):
    detector: str
    scores: list[float]
    anomalies: list[int] = Field(description="indices whose score reached the threshold")


@router.get("/detectors", response_model=list[str])
def detectors(principal: Read) -> list[str]:
    from qops.detectors import detector_names

    return detector_names()


@router.post("", response_model=AnomalyOut)
def detect(body: AnomalyRequest, principal: Compute) -> AnomalyOut:
    """Score every point with a streaming detector that sees the series' range and length
    only (NAB's protocol), as it would online."""
    from qops import QopsError
    from qops.detectors import SeriesContext, make_detector

    if body.timestamps is not None and len(body.timestamps) != len(body.values):
        raise InvalidInput(
            f"timestamps: {len(body.timestamps)} given for {len(body.values)} values; give one "
            "per value or none"
        )
    with package_errors(QopsError):
        detector = make_detector(body.detector, SeriesContext.of(body.values))
        if body.timestamps is None:
            scores = np.asarray(detector.score_series(body.values), dtype=float)
        else:
            scores = np.array(
                [detector.update(v, t) for v, t in zip(body.values, body.timestamps, strict=True)]
            )
    return AnomalyOut(
        detector=body.detector,
        scores=[float(s) for s in scores],
        anomalies=[int(i) for i in np.flatnonzero(scores >= body.threshold)],
    )
