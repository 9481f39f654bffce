"""Placement building blocks shared by the mapping methods.

The optimisers minimise the quadratic assignment objective
``sum_{a<b} W[a, b] * D[pi(a), pi(b)]`` with ``W = T + T^T`` (bytes both ways) and ``D`` the
fabric's symmetric route distance; rank lists shorter than the GPU list are padded with
idle "ranks" (zero rows), so every mapping is a permutation of the GPUs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.sparse import csr_matrix

from qnvlink.errors import UnknownMethod

__all__ = ["exact", "greedy", "identity", "local_search", "qap_cost", "symmetric_weights"]

EXACT_LIMIT = 400_000  # permutations


def symmetric_weights(traffic: np.ndarray, size: int) -> csr_matrix:
    """``T + T^T`` padded to ``size`` x ``size`` (idle ranks), sparse."""
    n = traffic.shape[0]
    w = np.zeros((size, size)) if size * size <= 4_000_000 else None
    if w is not None:
        w[:n, :n] = traffic + traffic.T
        return csr_matrix(w)
    sym = csr_matrix(traffic + traffic.T)
    sym.resize((size, size))
    return sym


def qap_cost(weights: csr_matrix, distance: np.ndarray, perm: np.ndarray) -> float:
    coo = weights.tocoo()
    return float(0.5 * np.sum(coo.data * distance[perm[coo.row], perm[coo.col]]))


def identity(n: int, size: int) -> np.ndarray:
    return np.arange(size)


def greedy(weights: csr_matrix, distance: np.ndarray) -> np.ndarray:
    """Graph growing: place the rank most tied to placed ranks where it costs least."""
    size = weights.shape[0]
    perm = np.full(size, -1)
    free = np.ones(size, dtype=bool)
    tie = np.zeros(size)  # bytes to already placed ranks
    total = np.asarray(weights.sum(axis=1)).ravel()
    placed = np.zeros(size, dtype=bool)
    for _ in range(size):
        score = np.where(placed, -np.inf, tie + 1e-12 * total)
        r = int(np.argmax(score))
        row = weights.getrow(r)
        nbrs, vals = row.indices, row.data
        mask = placed[nbrs]
        free_idx = np.flatnonzero(free)
        if mask.any():
            cost = distance[np.ix_(free_idx, perm[nbrs[mask]])] @ vals[mask]
            g = int(free_idx[np.argmin(cost)])
        else:
            g = int(free_idx[0])
        perm[r] = g
        free[g] = False
        placed[r] = True
        tie[nbrs] += vals
    return perm


def local_search(
    weights: csr_matrix,
    distance: np.ndarray,
    perm: np.ndarray,
    *,
    seed: int = 0,
    max_passes: int = 20,
    deadline: float | None = None,
    active: int | None = None,
) -> tuple[np.ndarray, dict]:
    """Best-improvement pairwise swaps with an O(n) vectorised delta per rank.

    For rank ``r`` the change of swapping it with every ``s`` at once is
    ``sum_k (W_rk - W_sk)(Dp_sk - Dp_rk) + 2 W_rs Dp_rs`` with ``Dp = D[pi][:, pi]``; the
    terms are one dense column gather, one sparse mat-vec and a maintained row sum.
    ``active``: only ranks below it start swaps (idle padding ranks only move when swapped).
    """
    import time

    rng = np.random.default_rng(seed)
    perm = perm.copy()
    size = len(perm)
    w = weights.tocsr()
    dp = distance[np.ix_(perm, perm)]
    coo = w.tocoo()

    def row_dots() -> np.ndarray:  # sum_k W_sk Dp_sk for every s, O(nnz)
        return np.bincount(coo.row, coo.data * dp[coo.row, coo.col], minlength=size)

    rowdot = row_dots()
    cost = 0.5 * rowdot.sum()
    start_cost = cost
    swaps = passes = 0
    movers = np.arange(size if active is None else active)
    for pass_number in range(1, max_passes + 1):
        passes = pass_number
        improved = False
        for r in rng.permutation(movers):
            row = w.getrow(r)
            if row.nnz == 0:
                continue
            nz, vals = row.indices, row.data
            c_r = float(vals @ dp[r, nz])
            term1 = dp[:, nz] @ vals
            term4 = w @ dp[r]
            wr = np.zeros(size)
            wr[nz] = vals
            delta = term1 - c_r - rowdot + term4 + 2 * wr * dp[r]
            delta[r] = 0.0
            s = int(np.argmin(delta))
            if delta[s] < -1e-12 * max(abs(cost), 1e-30):
                perm[[r, s]] = perm[[s, r]]
                dp[[r, s], :] = dp[[s, r], :]
                dp[:, [r, s]] = dp[:, [s, r]]
                rowdot = row_dots()
                cost += delta[s]
                swaps += 1
                improved = True
            if deadline is not None and time.perf_counter() > deadline:
                break
        if not improved or (deadline is not None and time.perf_counter() > deadline):
            break
    return perm, {
        "swaps": swaps,
        "passes": passes,
        "start_cost": float(start_cost),
        "cost": float(cost),
    }


def exact(weights: csr_matrix, distance: np.ndarray, n: int) -> np.ndarray:
    """Enumerate every placement of the ``n`` real ranks on the GPUs (tiny cases only)."""
    size = weights.shape[0]
    count = math.perm(size, n)
    if count > EXACT_LIMIT:
        raise UnknownMethod(
            f"method: 'exact' would enumerate {count} placements ({n} ranks on {size} GPUs); "
            f"it is for at most {EXACT_LIMIT} (e.g. 8 ranks on 8 GPUs); use 'local' or 'best'."
        )
    coo = weights.tocoo()
    keep = (coo.row < coo.col) & (coo.row < n) & (coo.col < n)
    rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
    best_cost, best = math.inf, None
    perms = itertools.permutations(range(size), n)
    while True:
        chunk = np.array(list(itertools.islice(perms, 50_000)), dtype=np.int64)
        if chunk.size == 0:
            break
        costs = np.zeros(len(chunk))
        for a, b, v in zip(rows, cols, vals, strict=True):
            costs += v * distance[chunk[:, a], chunk[:, b]]
        i = int(np.argmin(costs))
        if costs[i] < best_cost - 1e-15:
            best_cost, best = float(costs[i]), chunk[i]
    assert best is not None
    rest = [g for g in range(size) if g not in set(best.tolist())]
    return np.concatenate([best, np.array(rest, dtype=np.int64)])
