"""Recursive partitioning with METIS (pymetis) along the fabric's hierarchy.

At each level of the GPUs' ``domain`` (e.g. leaf switch, then host), the ranks are split by
METIS into as many parts as the fewest groups that hold them, with target weights equal to
the groups' sizes, so heavy traffic stays inside a group; then each part recurses into its
group. Inside the last level the greedy placer orders ranks on the group's GPUs.
"""

from __future__ import annotations

import numpy as np
import pymetis
from scipy.sparse import csr_matrix

from qnvlink.fabric import Fabric
from qnvlink.placement import greedy

__all__ = ["metis_map"]


def _int_weights(sub: csr_matrix, transform: str = "linear") -> np.ndarray:
    # METIS wants integer edge weights; keep 6 significant digits of the heaviest edge
    data = np.sqrt(sub.data) if transform == "sqrt" else sub.data
    peak = data.max() if sub.nnz else 1.0
    return np.maximum(1, np.round(data / peak * 1e6)).astype(np.int64)


def _split(sub: csr_matrix, caps: list[int], seed: int, transform: str = "linear") -> np.ndarray:
    n = sub.shape[0]
    k = len(caps)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if sub.nnz == 0:
        return np.repeat(np.arange(k), caps)[:n]
    total = float(sum(caps))
    options = pymetis.Options(seed=seed)
    _, parts = pymetis.part_graph(
        k,
        adjacency=pymetis.CSRAdjacency(sub.indptr, sub.indices),
        eweights=_int_weights(sub, transform),
        tpwgts=[c / total for c in caps],
        options=options,
    )
    parts = np.asarray(parts, dtype=np.int64)
    return _rebalance(sub, parts, caps)


def _rebalance(sub: csr_matrix, parts: np.ndarray, caps: list[int]) -> np.ndarray:
    """Move ranks out of over-full parts (METIS allows a few percent imbalance), cheapest first."""
    k = len(caps)
    sizes = np.bincount(parts, minlength=k)
    while (sizes > caps).any():
        over = int(np.flatnonzero(sizes > caps)[0])
        room = np.flatnonzero(sizes < caps)
        members = np.flatnonzero(parts == over)
        # tie[v, p]: bytes between v and part p
        tie = np.zeros((len(members), k))
        for i, v in enumerate(members):
            row = sub.getrow(v)
            np.add.at(tie[i], parts[row.indices], row.data)
        loss = tie[:, [over]] - tie[:, room]
        i, j = np.unravel_index(np.argmin(loss), loss.shape)
        parts[members[i]] = room[j]
        sizes[over] -= 1
        sizes[room[j]] += 1
    return parts


def metis_map(
    fabric: Fabric, weights: csr_matrix, n: int, seed: int = 0, transform: str = "linear"
) -> np.ndarray:
    """A permutation (padded to all GPUs) placing ranks ``0..n-1`` by recursive METIS.

    ``transform="sqrt"`` partitions on the square roots of the byte counts: METIS's
    heavy-edge matching then no longer pairs the single heaviest partners first, which on
    jobs of dense groups joined by heavier rings (expert all-to-all + data parallel) finds
    the cut that keeps the groups whole; ``best`` tries both and simulates each.
    """
    size = fabric.num_gpus
    domains = fabric.gpu_attr("domain")
    depth = max(len(d) for d in domains)
    perm = np.full(size, -1)
    distance = (fabric.distance + fabric.distance.T) / 2
    real = weights[:n, :n].tocsr()

    def place(ranks: np.ndarray, gpus: np.ndarray, level: int) -> None:
        if len(ranks) == 0:
            return
        if level >= depth or len(ranks) == 1:
            pad = np.zeros((len(gpus), len(gpus)))
            pad[: len(ranks), : len(ranks)] = real[ranks][:, ranks].toarray()
            local = greedy(csr_matrix(pad), distance[np.ix_(gpus, gpus)])
            perm[ranks] = gpus[local[: len(ranks)]]
            return
        keys = [tuple(domains[g][: level + 1]) for g in gpus]
        groups: dict[tuple, list[int]] = {}
        for g, key in zip(gpus.tolist(), keys, strict=True):
            groups.setdefault(key, []).append(g)
        members = list(groups.values())  # device order of first appearance
        needed, held = [], 0
        for group in members:
            if held >= len(ranks):
                break
            needed.append(group)
            held += len(group)
        caps = [len(g) for g in needed]
        sub = real[ranks][:, ranks].tocsr()
        parts = _split(sub, caps, seed, transform)
        for p, group in enumerate(needed):
            place(ranks[parts == p], np.array(group), level + 1)

    place(np.arange(n), np.arange(size), 0)
    used = set(perm[:n].tolist())
    rest = [g for g in range(size) if g not in used]
    perm[n:] = rest
    return perm
