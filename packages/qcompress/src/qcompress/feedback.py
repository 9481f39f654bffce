"""Gradient compression across steps: error feedback for sparsifiers, and PowerSGD.

Error feedback (Seide et al. 2014; Karimireddy et al. 2019): what a compressor drops this step
is added to the next step's input, so no gradient mass is lost, only delayed.

PowerSGD (Vogels, Karimireddy & Jaggi, NeurIPS 2019): each matrix gradient M is approximated
as P Q^T with one step of subspace iteration, P = orth(M Q), Q = M^T P, starting from the
previous step's Q (warm start), with error feedback. :class:`PowerSGD` does this for one
worker and emits containers; :class:`PowerSGDGroup` runs the same algorithm for several
workers in one process with the two averaging rounds (of P, then of Q) that an all-reduce
would do, so it works without torch.distributed or DDP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qcompress.api import _compress_array, decompress
from qcompress.codecs.lowrank import FACTOR_DTYPES, factor_shape, lowrank_encoded
from qcompress.container import Container, Segment, pack
from qcompress.entropy import encode_bytes
from qcompress.errors import InvalidSettings
from qcompress.tensors import TensorInfo, as_float, to_numpy

__all__ = ["ErrorFeedback", "PowerSGD", "PowerSGDGroup"]

SPARSIFIERS = ("topk", "threshold")


def _to_array(values: np.ndarray, like: Any) -> Any:
    if type(like).__module__.startswith("torch"):
        import torch

        return torch.from_numpy(values.astype(np.float32)).to(like.dtype)
    return values.astype(like.dtype, copy=False)


class ErrorFeedback:
    """A sparsifier with memory: ``compress(g)`` sends top-k (or threshold) of ``g + residual``.

    >>> ef = ErrorFeedback("topk", density=0.01)
    >>> data = ef.compress(grad)          # bytes to send
    >>> update = qcompress.decompress(data)
    """

    def __init__(self, method: str = "topk", **settings: Any) -> None:
        if method not in SPARSIFIERS:
            raise InvalidSettings(
                f"method: error feedback wraps one of {list(SPARSIFIERS)}, got {method!r}"
            )
        self.method = method
        self.settings = settings
        self.residual: np.ndarray | None = None
        self.bytes_sent = 0

    def reset(self) -> None:
        self.residual = None

    def compress(self, grad: Any) -> bytes:
        array, info = to_numpy(grad)
        values = as_float(array, info).astype(np.float32)
        if self.residual is not None and self.residual.shape != values.shape:
            raise InvalidSettings(
                f"grad: shape {values.shape} differs from the previous step's "
                f"{self.residual.shape}; use one ErrorFeedback per tensor (or call reset())"
            )
        corrected = values if self.residual is None else values + self.residual
        data = _compress_array(
            corrected,
            TensorInfo(info.kind, "float32", info.shape),
            self.method,
            entropy=None,
            level=3,
            **self.settings,
        )
        sent = decompress(data)
        sent = sent.numpy() if hasattr(sent, "numpy") else sent
        self.residual = corrected - np.asarray(sent, dtype=np.float32)
        self.bytes_sent += len(data)
        return data


def _orthonormalise(p: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(p)
    return q


def _settings(rank: Any, factors: Any) -> tuple[int, str]:
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise InvalidSettings(f"rank: must be a positive integer, got {rank!r}")
    if factors not in FACTOR_DTYPES:
        raise InvalidSettings(f"factors: must be one of {list(FACTOR_DTYPES)}, got {factors!r}")
    return rank, factors


class PowerSGD:
    """Rank-r PowerSGD for one worker and one gradient tensor, without DDP.

    ``compress(grad)`` returns a container holding P and Q (``method="lowrank"``), which
    ``qcompress.decompress`` turns into P Q^T. Tensors with fewer than 2 dimensions, or too
    small to gain, are sent losslessly (as PowerSGD does with biases).
    """

    def __init__(
        self,
        rank: int = 2,
        *,
        warm_start: bool = True,
        error_feedback: bool = True,
        factors: str = "float32",
        seed: int = 0,
    ) -> None:
        self.rank, self.factors = _settings(rank, factors)
        self.warm_start = bool(warm_start)
        self.error_feedback = bool(error_feedback)
        self._rng = np.random.default_rng(seed)
        self.q: np.ndarray | None = None
        self.residual: np.ndarray | None = None
        self.bytes_sent = 0

    def compress(self, grad: Any) -> bytes:
        array, info = to_numpy(grad)
        values = as_float(array, info).astype(np.float32)
        rows, cols = factor_shape(info.shape)
        r = min(self.rank, rows, cols)
        if len(info.shape) < 2 or r * (rows + cols) >= rows * cols:
            data = _compress_array(
                values, TensorInfo(info.kind, "float32", info.shape), "raw", entropy=None, level=3
            )
            self.bytes_sent += len(data)
            return data
        m = values.reshape(rows, cols).astype(np.float64)
        if self.error_feedback and self.residual is not None:
            m = m + self.residual
        if self.q is None or not self.warm_start or self.q.shape != (cols, r):
            self.q = self._rng.standard_normal((cols, r))
        p = _orthonormalise(m @ self.q)
        q = m.T @ p
        self.q = q
        if self.error_feedback:
            self.residual = m - p @ q.T
        encoded = lowrank_encoded(p, q, self.factors)
        segments = [
            Segment(
                name, "none", arr.dtype.itemsize, arr.nbytes, encode_bytes(arr.tobytes(), "none", 1)
            )
            for name, arr, _ in encoded.arrays
        ]
        info32 = TensorInfo(info.kind, "float32", info.shape)
        data = pack(
            Container(info32, "lowrank", encoded.params, segments, None, False, ["lowrank"])
        )
        self.bytes_sent += len(data)
        return data


class PowerSGDGroup:
    """PowerSGD across ``workers`` simulated in one process, as an all-reduce would run it.

    ``step(grads)`` takes one gradient per worker (same shape) and returns the averaged
    low-rank estimate every worker ends up with; ``bytes_per_worker`` counts what each
    worker sent (P then Q, each ``factors``-sized; a tensor PowerSGD would not compress is
    sent whole).
    """

    def __init__(
        self,
        workers: int,
        rank: int = 2,
        *,
        warm_start: bool = True,
        error_feedback: bool = True,
        factors: str = "float32",
        seed: int = 0,
    ) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise InvalidSettings(f"workers: must be a positive integer, got {workers!r}")
        self.workers = workers
        self.rank, self.factors = _settings(rank, factors)
        self.warm_start = bool(warm_start)
        self.error_feedback = bool(error_feedback)
        self._rng = np.random.default_rng(seed)
        self.q: np.ndarray | None = None
        self.residuals: list[np.ndarray] | None = None
        self.bytes_per_worker = 0

    def step(self, grads: list[np.ndarray]) -> np.ndarray:
        if len(grads) != self.workers:
            raise InvalidSettings(f"grads: expected {self.workers} gradients, got {len(grads)}")
        shape = np.shape(grads[0])
        rows, cols = factor_shape(tuple(shape))
        r = min(self.rank, rows, cols)
        itemsize = np.dtype(FACTOR_DTYPES[self.factors]).itemsize
        if len(shape) < 2 or r * (rows + cols) >= rows * cols:
            self.bytes_per_worker += 4 * rows * cols
            return np.mean([np.asarray(g, np.float64) for g in grads], axis=0)
        ms = [np.asarray(g, np.float64).reshape(rows, cols) for g in grads]
        if self.error_feedback and self.residuals is not None:
            ms = [m + e for m, e in zip(ms, self.residuals, strict=True)]
        if self.q is None or not self.warm_start:
            self.q = self._rng.standard_normal((cols, r))
        cast = lambda a: a.astype(FACTOR_DTYPES[self.factors]).astype(np.float64)  # noqa: E731
        p = _orthonormalise(np.mean([cast(m @ self.q) for m in ms], axis=0))  # all-reduce 1
        q = np.mean([cast(m.T @ p) for m in ms], axis=0)  # all-reduce 2
        self.bytes_per_worker += itemsize * r * (rows + cols)
        self.q = q
        approx = p @ q.T
        if self.error_feedback:
            self.residuals = [m - approx for m in ms]
        return approx.reshape(shape)
