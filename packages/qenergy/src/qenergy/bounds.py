"""An energetic lower bound on the peak (the cumulative "energetic reasoning" of Baptiste,
Le Pape and Nuijten, applied to the power resource with the capacity as the unknown).

In any window [a, b] a job must overlap at least ``min(overlap at its earliest start, overlap
at its latest start)`` seconds (overlap is unimodal in the start time), with the least power
of its options. So the power above idle at some instant of the window is at least the sum of
these mandatory energies over ``b - a``. The best window gives a valid bound for the integer
model; CP-SAT gets it as the lower end of its peak variable, which proves optimality on many
instances its own propagation cannot.
"""

from __future__ import annotations

import math

import numpy as np

from qenergy.instance import Instance

__all__ = ["peak_lower_bound"]


def peak_lower_bound(inst: Instance, max_points: int = 160) -> int:
    """Power above idle (W, integer model) that every feasible schedule reaches at some time."""
    K = max(len(o) for o in inst.options)
    dur = np.full((inst.n, K), np.iinfo(np.int32).max, dtype=np.int64)
    delta = np.zeros((inst.n, K), dtype=np.int64)
    for j, opts in enumerate(inst.options):
        for k, o in enumerate(opts):
            dur[j, k], delta[j, k] = o.duration, o.delta_w
        for k in range(len(opts), K):  # pad with a copy of the first option
            dur[j, k], delta[j, k] = opts[0].duration, opts[0].delta_w
    r = inst.release[:, None]
    latest = inst.deadline[:, None] - dur  # latest start per option
    lefts = np.unique(np.r_[inst.release, latest.ravel()])
    rights = np.unique(np.r_[inst.deadline, (r + dur).ravel()])

    def thin(points: np.ndarray) -> np.ndarray:
        if len(points) <= max_points:
            return points
        return np.unique(points[np.linspace(0, len(points) - 1, max_points).astype(int)])

    lefts, rights = thin(lefts), thin(rights)
    best = int(delta.min(axis=1).max())  # the hungriest job alone
    for a in lefts:
        b = rights[rights > a]
        if b.size == 0:
            continue
        B = b[None, None, :]
        lo_start = r[:, :, None]
        hi_start = latest[:, :, None]
        d = dur[:, :, None]
        left = np.maximum(0, np.minimum(B, lo_start + d) - np.maximum(a, lo_start))
        right = np.maximum(0, np.minimum(B, hi_start + d) - np.maximum(a, hi_start))
        energy = (delta[:, :, None] * np.minimum(left, right)).min(axis=1).sum(axis=0)
        value = math.ceil(float((energy / (b - a)).max()) - 1e-9)
        best = max(best, value)
    return best
