"""The exact optimum of k-choice routing with capacities, as a linear program (HiGHS).

The constraint matrix of the transportation problem is totally unimodular, so the LP
optimum at a vertex is integral: the LP *is* the integer problem. For large instances only
each row's best ``candidates`` columns enter the LP; the duals then price every left-out
pair, and any pair with a positive reduced value joins and the LP is solved again (column
generation), so the answer is the optimum of the full problem, not of the pruned one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog


@dataclass(frozen=True)
class LPResult:
    cols: np.ndarray  # [R, d] columns chosen per row
    objective: float
    wall_s: float
    columns_priced: int  # pairs in the final LP
    iterations: int  # LP solves (column generation rounds)


def solve_transport_lp(
    V: np.ndarray,
    d: int,
    cap: int,
    *,
    candidates: int | None = None,
    tol: float = 1e-9,
    max_iterations: int = 20,
) -> LPResult:
    """Maximise ``sum V[r, c] x[r, c]``: each row takes exactly ``d`` distinct columns, each
    column at most ``cap`` rows; ``R * d <= N * cap`` is required.

    ``candidates`` (default: all) limits each row to its best columns at first; left-out
    pairs are priced with the duals and added until none has a positive reduced value.
    """
    start = time.perf_counter()
    V = np.asarray(V, dtype=np.float64)
    R, N = V.shape
    if R * d > N * cap:
        raise ValueError(f"demand {R * d} exceeds capacity {N * cap}")
    m = N if candidates is None else max(min(candidates, N), min(d + 1, N))
    if m >= N:
        active = np.ones((R, N), dtype=bool)
    else:
        top = np.argpartition(-V, m - 1, axis=1)[:, :m]
        active = np.zeros((R, N), dtype=bool)
        active[np.arange(R)[:, None], top] = True
    iterations = 0
    while True:
        iterations += 1
        rows, cols = np.nonzero(active)
        n = rows.size
        a_eq = sp.csr_matrix((np.ones(n), (rows, np.arange(n))), shape=(R, n))
        a_ub = sp.csr_matrix((np.ones(n), (cols, np.arange(n))), shape=(N, n))
        res = linprog(
            -V[rows, cols],
            A_ub=a_ub,
            b_ub=np.full(N, float(cap)),
            A_eq=a_eq,
            b_eq=np.full(R, float(d)),
            bounds=(0.0, 1.0),
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"HiGHS could not solve the routing LP: {res.message}")
        if active.all() or iterations >= max_iterations:
            break
        y = res.eqlin.marginals  # per row
        z = res.ineqlin.marginals  # per column, <= 0
        reduced = V + y[:, None] + z[None, :]  # > 0: the pair would improve the optimum
        reduced[active] = -np.inf
        enter = reduced > tol * max(1.0, float(np.abs(V).max()))
        if not enter.any():
            break
        active |= enter
    x = np.zeros((R, N))
    x[rows, cols] = res.x
    chosen = x > 0.5
    counts = chosen.sum(axis=1)
    if not np.all(counts == d):  # a non-vertex optimum; never seen with HiGHS' simplex
        raise RuntimeError("the LP optimum was fractional; cannot read an integral routing")
    out = np.nonzero(chosen)[1].reshape(R, d)
    objective = float(V[np.arange(R)[:, None], out].sum())
    return LPResult(out, objective, time.perf_counter() - start, int(active.sum()), iterations)
