"""Error-bounded float compression through zfp (zfpy) and SZ3 (pysz): every value within an
absolute bound that the caller chooses. Extra ``errorbound``.

These decoders are C libraries: our checksums stop accidental corruption before they run, but
a deliberately forged stream with recomputed checksums reaches their parser. We check that the
output has exactly the declared shape and finite values before returning it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import (
    Codec,
    Encoded,
    finite_or_corrupt,
    param_float,
    param_str,
    setting_choice,
    setting_float,
)
from qcompress.container import Segments
from qcompress.errors import CorruptData, InvalidSettings, MissingExtra
from qcompress.tensors import TensorInfo

__all__ = ["SZ3", "ZFP"]

EXTRA = "pip install 'qcompress[errorbound]'"


def _zfpy() -> Any:
    try:
        import zfpy
    except ImportError as exc:
        raise MissingExtra(f"method: zfp needs zfpy; {EXTRA}") from exc
    return zfpy


def _pysz() -> Any:
    try:
        import pysz
    except ImportError as exc:
        raise MissingExtra(f"method: sz3 needs pysz; {EXTRA}") from exc
    return pysz


def _bounded(segs: Segments, name: str) -> bytes:
    return segs.raw(name, segs.raw_len(name))


def _check(out: np.ndarray, info: TensorInfo, what: str) -> np.ndarray:
    if out.size != info.numel:
        raise CorruptData(
            f"payload: {what} stream decodes to {out.size} values, header says {info.numel}"
        )
    return finite_or_corrupt(out.astype(np.float32, copy=False).ravel(), f"{what} output")


class ZFP(Codec):
    name: ClassVar[str] = "zfp"
    settings: ClassVar[tuple[str, ...]] = ("tolerance",)
    param_keys: ClassVar[frozenset[str]] = frozenset({"tolerance"})

    def encode(
        self, x: np.ndarray, info: TensorInfo, tolerance: float | None = None, **_: Any
    ) -> Encoded:
        if tolerance is None:
            raise InvalidSettings(
                "tolerance: zfp needs an absolute error bound, e.g. tolerance=1e-3"
            )
        tol = setting_float(tolerance, "tolerance", 0.0, 1e300, open_low=True)
        zfpy = _zfpy()
        data = np.ascontiguousarray(x.astype(np.float32).reshape(_zfp_shape(info.shape)))
        stream = zfpy.compress_numpy(data, tolerance=tol)
        return Encoded({"tolerance": tol}, [("stream", np.frombuffer(stream, np.uint8), "none")])

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        param_float(params, "tolerance", positive=True)
        zfpy = _zfpy()
        stream = _bounded(segs, "stream")
        try:
            out = zfpy.decompress_numpy(stream)
        except Exception as exc:  # zfpy raises bare exceptions on damaged streams
            raise CorruptData(f"payload: zfp stream is damaged ({type(exc).__name__})") from exc
        return _check(np.asarray(out), info, "zfp")


def _zfp_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    # zfp handles 1 to 4 dimensions; fold any others into the last one
    if len(shape) == 0:
        return (1,)
    if len(shape) <= 4:
        return shape
    return (*shape[:3], int(np.prod(shape[3:], dtype=np.int64)))


class SZ3(Codec):
    name: ClassVar[str] = "sz3"
    settings: ClassVar[tuple[str, ...]] = ("bound", "mode")
    param_keys: ClassVar[frozenset[str]] = frozenset({"bound", "mode"})

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        bound: float | None = None,
        mode: str = "abs",
        **_: Any,
    ) -> Encoded:
        if bound is None:
            raise InvalidSettings(
                "bound: sz3 needs an error bound, e.g. bound=1e-3 (mode='abs' or 'range')"
            )
        eb = setting_float(bound, "bound", 0.0, 1e300, open_low=True)
        mode = setting_choice(mode, "mode", ("abs", "range"))
        pysz = _pysz()
        data = np.ascontiguousarray(x.astype(np.float32).reshape(_zfp_shape(info.shape)))
        config = pysz.szConfig(data.shape)
        if mode == "abs":
            config.errorBoundMode = pysz.szErrorBoundMode.ABS
            config.absErrorBound = eb
        else:  # relative to the value range (SZ's REL mode)
            config.errorBoundMode = pysz.szErrorBoundMode.REL
            config.relErrorBound = eb
        stream, _ratio = pysz.sz.compress(data, config)
        return Encoded(
            {"bound": eb, "mode": mode}, [("stream", np.asarray(stream, np.uint8), "none")]
        )

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        param_float(params, "bound", positive=True)
        param_str(params, "mode", ("abs", "range"))
        pysz = _pysz()
        stream = np.frombuffer(_bounded(segs, "stream"), np.uint8).copy()
        try:
            out, _config = pysz.sz.decompress(stream, np.float32, _zfp_shape(info.shape))
        except Exception as exc:  # the binding raises RuntimeError/ValueError on damaged streams
            raise CorruptData(f"payload: sz3 stream is damaged ({type(exc).__name__})") from exc
        return _check(np.asarray(out), info, "sz3")
