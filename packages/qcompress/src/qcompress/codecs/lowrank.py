"""Low rank: a matrix (the tensor viewed as rows x rest) stored as P @ Q.T with rank r.

``compress(w, method="lowrank", rank=r)`` takes the best rank-r approximation (truncated SVD,
Eckart-Young); :class:`qcompress.PowerSGD` produces its factors by power iteration with warm
start and error feedback and stores them through the same codec.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import (
    Codec,
    Encoded,
    finite_or_corrupt,
    param_int,
    param_str,
    setting_choice,
    setting_int,
)
from qcompress.container import Segments
from qcompress.errors import InvalidSettings
from qcompress.tensors import TensorInfo

__all__ = ["LowRank", "factor_shape", "lowrank_encoded", "truncated_svd"]

FACTOR_DTYPES = {"float32": "<f4", "float16": "<f2"}


def factor_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The matrix a tensor is viewed as: first axis by everything else (a vector is a row)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    rows = shape[0]
    cols = int(np.prod(shape[1:], dtype=np.int64))
    return rows, cols


def lowrank_encoded(p: np.ndarray, q: np.ndarray, factors: str) -> Encoded:
    dt = FACTOR_DTYPES[factors]
    params = {"rank": int(p.shape[1]), "factors": factors}
    return Encoded(params, [("p", p.astype(dt), "none"), ("q", q.astype(dt), "none")])


def truncated_svd(m: np.ndarray, rank: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Factors ``p`` (rows x rank, singular values folded in) and ``q`` (cols x rank).

    Small or high-rank requests use LAPACK's full SVD; a low rank of a large matrix uses the
    randomised range finder of Halko, Martinsson & Tropp (2011) with 10 extra columns and 4
    power iterations (seeded, so the same input gives the same container).
    """
    rows, cols = m.shape
    if min(rows, cols) <= 512 or rank * 4 > min(rows, cols):
        u, s, vt = np.linalg.svd(m, full_matrices=False)
        return u[:, :rank] * s[:rank], vt[:rank].T
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(m @ rng.standard_normal((cols, rank + 10)))
    for _ in range(4):
        basis, _ = np.linalg.qr(m.T @ basis)
        basis, _ = np.linalg.qr(m @ basis)
    u, s, vt = np.linalg.svd(basis.T @ m, full_matrices=False)
    return (basis @ u[:, :rank]) * s[:rank], vt[:rank].T


class LowRank(Codec):
    name: ClassVar[str] = "lowrank"
    settings: ClassVar[tuple[str, ...]] = ("rank", "factors")
    param_keys: ClassVar[frozenset[str]] = frozenset({"rank", "factors"})

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        rank: int | None = None,
        factors: str = "float32",
        **_: Any,
    ) -> Encoded:
        if rank is None:
            raise InvalidSettings("rank: give the rank to keep, e.g. rank=4")
        rows, cols = factor_shape(info.shape)
        r = setting_int(rank, "rank", 1, max(1, min(rows, cols)))
        setting_choice(factors, "factors", tuple(FACTOR_DTYPES))
        p, q = truncated_svd(x.reshape(rows, cols).astype(np.float64), r)
        return lowrank_encoded(p, q, factors)

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        rows, cols = factor_shape(info.shape)
        rank = param_int(params, "rank", 1, max(1, min(rows, cols)))
        dt = FACTOR_DTYPES[param_str(params, "factors", tuple(FACTOR_DTYPES))]
        p = finite_or_corrupt(segs.array("p", dt, rows * rank), "factor P").astype(np.float32)
        q = finite_or_corrupt(segs.array("q", dt, cols * rank), "factor Q").astype(np.float32)
        return (p.reshape(rows, rank) @ q.reshape(cols, rank).T).ravel()
