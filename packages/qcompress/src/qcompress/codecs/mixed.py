"""Importance-based mixed precision: each block of values gets 4, 8 or 16 bits.

Importance of a block is ``w_weight * mean|w| / max + w_grad * mean|g| / max`` (0.7 / 0.3 by
default; without a gradient, |w| alone). Blocks are upgraded in order of importance, first
from int4 to int8, then to fp16, until the average size reaches the bit budget (``bits``) or,
with ``rel_l2``, until the relative L2 error is at or below the target. int4/int8 blocks carry
an absmax scale (float32); fp16 blocks carry none.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompress.codecs.base import (
    Codec,
    Encoded,
    finite_or_corrupt,
    nibble_bytes,
    pack_nibbles,
    param_int,
    setting_float,
    setting_int,
    unpack_nibbles,
)
from qcompress.container import Segments
from qcompress.errors import CorruptData, InvalidSettings
from qcompress.tensors import TensorInfo

__all__ = ["Mixed", "block_importance"]

LEVELS = (4, 8, 16)
CONTAINER_OVERHEAD = 1024  # bytes of prelude and JSON header, generously


def block_importance(
    w: np.ndarray, grad: np.ndarray | None, block: int, weights: tuple[float, float] = (0.7, 0.3)
) -> np.ndarray:
    """Per-block importance from |weight| and |gradient|, each normalised to [0, 1]."""

    def blockwise(a: np.ndarray) -> np.ndarray:
        flat = np.abs(a.ravel().astype(np.float64))
        pad = (-flat.size) % block
        means = np.concatenate([flat, np.zeros(pad)]).reshape(-1, block).mean(axis=1)
        peak = means.max() if means.size else 0.0
        return means / peak if peak > 0 else means

    score = weights[0] * blockwise(w)
    if grad is not None:
        score = score + weights[1] * blockwise(grad)
    return score


def _quantise(blocks: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    qmax = (1 << (bits - 1)) - 1
    scale = np.abs(blocks).max(axis=1) / qmax
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    codes = np.clip(np.rint(blocks / scale[:, None]), -qmax, qmax).astype(np.int8)
    return codes, scale


class Mixed(Codec):
    name: ClassVar[str] = "mixed"
    settings: ClassVar[tuple[str, ...]] = (
        "bits",
        "rel_l2",
        "block_size",
        "grad",
        "importance_weights",
    )
    param_keys: ClassVar[frozenset[str]] = frozenset({"block_size"})

    def encode(
        self,
        x: np.ndarray,
        info: TensorInfo,
        bits: float | None = None,
        rel_l2: float | None = None,
        block_size: int = 64,
        grad: Any = None,
        importance_weights: tuple[float, float] = (0.7, 0.3),
        **_: Any,
    ) -> Encoded:
        if (bits is None) == (rel_l2 is None):
            raise InvalidSettings(
                "bits: give exactly one of bits=<budget per value> or rel_l2=<target>"
            )
        block = setting_int(block_size, "block_size", 1, 1 << 20)
        try:
            ww, wg = (float(v) for v in importance_weights)
        except (TypeError, ValueError) as exc:
            raise InvalidSettings(
                f"importance_weights: expected two numbers, got {importance_weights!r}"
            ) from exc
        setting_float(ww, "importance_weights[0]", 0.0, 1e6)
        setting_float(wg, "importance_weights[1]", 0.0, 1e6)
        g = None
        if grad is not None:
            g = np.asarray(
                grad.detach().cpu().numpy() if hasattr(grad, "detach") else grad, dtype=np.float64
            )
            if g.size != x.size:
                raise InvalidSettings(
                    f"grad: has {g.size} values, the tensor has {x.size}; "
                    "pass the tensor's own gradient"
                )
        n = x.size
        rows = -(-n // block) if n else 0
        flat = np.zeros(rows * block, dtype=np.float32)
        flat[:n] = x.ravel()
        blocks = flat.reshape(rows, block)
        order = np.argsort(-block_importance(x, g, block, (ww, wg)), kind="stable")
        # squared error and cost (bits per block incl. scale) of each block at each level
        q4, s4 = _quantise(blocks, 4)
        q8, s8 = _quantise(blocks, 8)
        err = {
            4: ((q4 * s4[:, None] - blocks) ** 2).sum(axis=1, dtype=np.float64),
            8: ((q8 * s8[:, None] - blocks) ** 2).sum(axis=1, dtype=np.float64),
            16: ((blocks.astype(np.float16).astype(np.float32) - blocks) ** 2).sum(
                axis=1, dtype=np.float64
            ),
        }
        cost = {4: 4 * block + 32, 8: 8 * block + 32, 16: 16 * block}
        level = np.full(rows, 4, dtype=np.uint8)
        if bits is not None:
            # the budget covers the whole container: header, level map (one byte per block
            # at worst) and payload
            overhead = 8 * (CONTAINER_OVERHEAD + rows)
            budget = setting_float(bits, "bits", 0.0, 64.0) * max(n, 1) - overhead
            if rows and cost[4] * rows > budget:
                floor = (cost[4] * rows + overhead) / n
                raise InvalidSettings(
                    f"bits: {bits} bits/value is below the 4-bit floor of mixed precision "
                    f"({floor:.3f} with scales and header); raise it or use method='auto'"
                )
            spent = cost[4] * rows
            for target in (8, 16):
                for i in order:
                    step = cost[target] - cost[int(level[i])]
                    if spent + step <= budget:
                        level[i] = target
                        spent += step
        else:
            target_err = setting_float(rel_l2, "rel_l2", 0.0, 1.0) ** 2 * float(
                np.sum(flat.astype(np.float64) ** 2)
            )
            total = float(err[4].sum())
            for target in (8, 16):
                for i in order:
                    if total <= target_err:
                        break
                    total += err[target][i] - err[int(level[i])][i]
                    level[i] = target
        arrays: list[tuple[str, np.ndarray, str]] = [("levels", level, "zstd")]
        m4, m8, m16 = level == 4, level == 8, level == 16
        arrays.append(("scales4", s4[m4], "none"))
        arrays.append(("codes4", pack_nibbles((q4[m4] + 8).ravel()), "none"))
        arrays.append(("scales8", s8[m8], "none"))
        arrays.append(("codes8", q8[m8].ravel(), "none"))
        arrays.append(("half", blocks[m16].astype(np.float16).ravel(), "none"))
        return Encoded({"block_size": block}, arrays)

    def decode(self, segs: Segments, params: dict[str, Any], info: TensorInfo) -> np.ndarray:
        block = param_int(params, "block_size", 1, 1 << 20)
        n = info.numel
        rows = -(-n // block) if n else 0
        level = segs.array("levels", "u1", rows)
        m4, m8, m16 = level == 4, level == 8, level == 16
        if int(m4.sum() + m8.sum() + m16.sum()) != rows:
            raise CorruptData("payload: a block level is not one of 4, 8, 16")
        c4, c8, c16 = int(m4.sum()), int(m8.sum()), int(m16.sum())
        out = np.zeros((rows, block), dtype=np.float32)
        s4 = finite_or_corrupt(segs.array("scales4", "<f4", c4), "int4 scales")
        codes4 = unpack_nibbles(segs.array("codes4", "u1", nibble_bytes(c4 * block)), c4 * block)
        out[m4] = (codes4.astype(np.float32) - 8.0).reshape(c4, block) * s4[:, None]
        s8 = finite_or_corrupt(segs.array("scales8", "<f4", c8), "int8 scales")
        out[m8] = (
            segs.array("codes8", "i1", c8 * block).astype(np.float32).reshape(c8, block)
            * s8[:, None]
        )
        out[m16] = segs.array("half", "<f2", c16 * block).astype(np.float32).reshape(c16, block)
        return out.ravel()[:n]
