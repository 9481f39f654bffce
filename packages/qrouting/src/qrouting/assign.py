"""Shared assignment steps: capacity with token dropping, and refilling free capacity."""

from __future__ import annotations

from typing import Literal

import numpy as np

Priority = Literal["position", "score"]


def top_k_choices(score: np.ndarray, k: int) -> np.ndarray:
    """``[T, k]`` expert indices by descending ``score`` per token."""
    E = score.shape[1]
    if k >= E:
        return np.argsort(-score, axis=1, kind="stable")
    part = np.argpartition(-score, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(score, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def enforce_capacity(
    choices: np.ndarray,
    priority: np.ndarray,
    num_experts: int,
    capacity: int,
    *,
    order: Priority = "position",
    loads: np.ndarray | None = None,
) -> np.ndarray:
    """Keep at most ``capacity`` tokens per expert; the rest become ``-1`` (dropped).

    Choices are served rank by rank (every token's first choice before any second choice,
    as GShard does). Within a rank, ``order="position"`` serves tokens in batch order
    (Switch/GShard); ``"score"`` serves the highest ``priority`` first (batch priority
    routing). ``loads`` (updated in place) carries loads already taken.
    """
    T, k = choices.shape
    out = np.full((T, k), -1, dtype=np.int64)
    loads = np.zeros(num_experts, dtype=np.int64) if loads is None else loads
    for j in range(k):
        e = choices[:, j]
        valid = np.nonzero(e >= 0)[0]
        if valid.size == 0:
            continue
        ev = e[valid]
        if order == "score":
            sort = np.lexsort((-priority[valid, j], ev))
        else:
            sort = np.lexsort((valid, ev))
        tok = valid[sort]
        exp = ev[sort]
        starts = np.searchsorted(exp, exp, side="left")
        rank = np.arange(exp.size) - starts
        ok = rank + loads[exp] < capacity
        out[tok[ok], j] = exp[ok]
        loads += np.bincount(exp[ok], minlength=num_experts)
    return out


def refill(
    indices: np.ndarray,
    value: np.ndarray,
    capacity: int,
    *,
    max_rounds: int | None = None,
) -> np.ndarray:
    """Give dropped slots the best expert (by ``value``) that still has room and that the
    token does not already use, highest value first, until no slot can be filled."""
    indices = indices.copy()
    width = indices.shape[1]
    E = value.shape[1]
    loads = np.bincount(indices[indices >= 0], minlength=E)
    rounds = 0
    limit = max_rounds if max_rounds is not None else E * width + 1
    while rounds < limit:
        rounds += 1
        room = loads < capacity
        if not room.any():
            break
        need_rows = np.nonzero((indices < 0).any(axis=1))[0]
        if need_rows.size == 0:
            break
        score = np.where(room[None, :], value[need_rows], -np.inf)
        held = indices[need_rows]
        hr, hc = np.nonzero(held >= 0)
        score[hr, held[hr, hc]] = -np.inf
        best = np.argmax(score, axis=1)
        best_val = score[np.arange(need_rows.size), best]
        ok = np.isfinite(best_val)
        if not ok.any():
            break
        rows, best, best_val = need_rows[ok], best[ok], best_val[ok]
        placed = enforce_capacity(
            best[:, None], best_val[:, None], E, capacity, order="score", loads=loads
        )[:, 0]
        got = placed >= 0
        slot = np.argmax(indices[rows[got]] < 0, axis=1)
        indices[rows[got], slot] = placed[got]
    return indices
