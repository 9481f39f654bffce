"""qcore: QUBO/Ising models (dimod BQMs) in, SampleSets out, solved by name.

>>> import dimod, qcore
>>> bqm = dimod.BinaryQuadraticModel({"a": -1.0, "b": -1.0}, {("a", "b"): 2.0}, 0.0, "BINARY")
>>> result = qcore.solve(bqm, solver="exact")
>>> result.energy, result.proven_optimal
(-1.0, True)
"""

from qcore.constraints import Decoded, Problem, Violation, auto_penalty, to_bqm
from qcore.errors import (
    AllSolversFailed,
    InvalidProblem,
    ProblemTooLarge,
    QcoreError,
    SolverTimeout,
    SolverUnavailable,
    UnknownParameter,
    UnknownSolver,
)
from qcore.registry import SolverInfo, get_solver, list_solvers, register_solver
from qcore.solve import Attempt, SolveResult, solve

__version__ = "0.1.0"

__all__ = [
    "AllSolversFailed",
    "Attempt",
    "Decoded",
    "InvalidProblem",
    "Problem",
    "ProblemTooLarge",
    "QcoreError",
    "SolveResult",
    "SolverInfo",
    "SolverTimeout",
    "SolverUnavailable",
    "UnknownParameter",
    "UnknownSolver",
    "Violation",
    "auto_penalty",
    "get_solver",
    "list_solvers",
    "register_solver",
    "solve",
    "to_bqm",
]
