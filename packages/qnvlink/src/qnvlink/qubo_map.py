"""The quadratic assignment as a BQM, solved through qcore (small cases).

Binary ``x[r, g]`` = rank ``r`` on GPU ``g``; objective ``sum W[r, s] D[g, h] x[r, g] x[s, h]``
(normalised so its largest coefficient is 1); hard constraints: each rank on exactly one GPU,
each GPU at most one rank (``qcore.constraints`` penalises them so the optimum is feasible).
Any qcore solver can run it (``exact`` up to 26 variables, ``auto`` races SA/tabu/PT beyond,
``qaoa`` when PennyLane is installed and the model is tiny). A sample that breaks a
constraint is repaired by a linear assignment on the sample's own choices and the repair is
reported, never hidden.
"""

from __future__ import annotations

import dimod
import numpy as np
import qcore
from qcore.constraints import Problem
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix

from qnvlink.errors import UnknownMethod

__all__ = ["MAX_VARIABLES", "qap_problem", "qubo_map"]

MAX_VARIABLES = 256


def qap_problem(weights: csr_matrix, distance: np.ndarray, n: int) -> Problem:
    size = weights.shape[0]
    coo = weights.tocoo()
    keep = (coo.row < coo.col) & (coo.col < n)
    rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
    scale = max(float(vals.max()) if vals.size else 1.0, 1e-300) * max(distance.max(), 1e-300)
    objective = dimod.BinaryQuadraticModel(dimod.BINARY)
    objective.add_variables_from(((r, g), 0.0) for r in range(n) for g in range(size))
    for r, s, v in zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True):
        for g in range(size):
            for h in range(size):
                if g != h and distance[g, h] > 0:
                    objective.add_quadratic((r, g), (s, h), v * distance[g, h] / scale)
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(objective)
    for r in range(n):
        cqm.add_constraint_from_iterable([((r, g), 1) for g in range(size)], "==", 1, f"rank[{r}]")
    if n > 1:
        for g in range(size):
            cqm.add_constraint_from_iterable([((r, g), 1) for r in range(n)], "<=", 1, f"gpu[{g}]")
    return Problem.from_cqm(cqm, name="rank_mapping_qap")


def qubo_map(
    weights: csr_matrix,
    distance: np.ndarray,
    n: int,
    *,
    solver: str = "auto",
    seed: int = 0,
    time_limit: float | None = None,
) -> tuple[np.ndarray, dict]:
    size = weights.shape[0]
    if n * size > MAX_VARIABLES:
        raise UnknownMethod(
            f"method: 'qubo' needs {n * size} binary variables ({n} ranks x {size} GPUs); it "
            f"is for at most {MAX_VARIABLES} (e.g. 16 ranks on 16 GPUs); use 'local' or 'best'."
        )
    problem = qap_problem(weights, distance, n)
    result = qcore.solve(problem.bqm, solver=solver, seed=seed, time_limit=time_limit)
    decoded = problem.decode(result)
    choice = np.zeros((n, size))
    for (r, g), value in decoded.sample.items():
        choice[r, g] = value
    _, cols = linear_sum_assignment(-choice)  # the sample itself when it is feasible
    repaired = not decoded.feasible
    used = set(cols.tolist())
    perm = np.concatenate([cols, [g for g in range(size) if g not in used]]).astype(np.int64)
    info = {
        "solver": result.solver,
        "variables": problem.bqm.num_variables,
        "feasible_sample": bool(decoded.feasible),
        "repaired": repaired,
        "proven_optimal": bool(result.proven_optimal),
        "solver_wall_s": result.wall_s,
    }
    return perm, info
