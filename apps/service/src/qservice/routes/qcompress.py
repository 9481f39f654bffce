"""qcompress: compress a posted tensor into qcompress's checksummed container and back."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from qservice.api_deps import Compute
from qservice.errors import InvalidInput, LimitExceeded
from qservice.routes.common import package_errors

router = APIRouter(prefix="/v1/tensors", tags=["qcompress"])

MAX_VALUES = 1_000_000
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
Finite = Annotated[float, Field(allow_inf_nan=False)]


class CompressRequest(BaseModel):
    values: list[Finite] = Field(min_length=1, max_length=MAX_VALUES, description="row-major")
    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=8)
    dtype: Literal["float32", "float64"] = "float32"
    method: str = Field("shuffle-zstd", max_length=30, description="a qcompress codec or auto")
    settings: dict[str, Any] = Field(default_factory=dict, description="the codec's settings")


class CompressOut(BaseModel):
    container: str = Field(description="base64 of the qcompress container")
    original_bytes: int
    compressed_bytes: int
    ratio: float
    rel_l2: float
    max_abs: float


class DecompressRequest(BaseModel):
    container: str = Field(min_length=4, max_length=3_000_000)


class DecompressOut(BaseModel):
    shape: list[int]
    dtype: str
    values: list[float]


@router.post("/compress", response_model=CompressOut)
def compress(body: CompressRequest, principal: Compute) -> CompressOut:
    import qcompress

    count = int(np.prod(body.shape))
    if count != len(body.values):
        raise InvalidInput(f"shape: {body.shape} holds {count} values, {len(body.values)} given")
    if count > MAX_VALUES:
        raise LimitExceeded(f"values: over the limit of {MAX_VALUES}")
    array = np.asarray(body.values, dtype=body.dtype).reshape(body.shape)
    with package_errors(qcompress.QcompressError):
        blob = qcompress.compress(array, body.method, **body.settings)
        restored = qcompress.decompress(blob)
    stats = qcompress.error_stats(array, np.asarray(restored))
    return CompressOut(
        container=base64.b64encode(blob).decode(),
        original_bytes=array.nbytes,
        compressed_bytes=len(blob),
        ratio=array.nbytes / len(blob),
        rel_l2=stats["rel_l2"],
        max_abs=stats["max_abs"],
    )


@router.post("/decompress", response_model=DecompressOut)
def decompress(body: DecompressRequest, principal: Compute) -> DecompressOut:
    import qcompress

    try:
        blob = base64.b64decode(body.container, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("container: not base64") from None
    with package_errors(qcompress.QcompressError):
        array = np.asarray(qcompress.decompress(blob, max_output_bytes=MAX_OUTPUT_BYTES))
    if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)):
        raise InvalidInput("container: holds no finite floating tensor")
    return DecompressOut(
        shape=list(array.shape), dtype=str(array.dtype), values=array.ravel().tolist()
    )
