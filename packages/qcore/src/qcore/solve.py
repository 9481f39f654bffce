"""``qcore.solve``: one call, a solver with fallbacks, and an honest account of what ran."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dimod

from qcore.errors import (
    AllSolversFailed,
    InvalidProblem,
    ProblemTooLarge,
    QcoreError,
    SolverTimeout,
    SolverUnavailable,
)
from qcore.registry import get_solver, solver_names
from qcore.solvers.base import check_time_limit
from qcore.validation import validate_bqm

# Errors that mean "this solver cannot do this job here", so the next fallback gets a turn.
# Bad input (InvalidProblem, UnknownParameter) is the caller's to fix and is raised at once.
FALLBACK_ERRORS = (SolverUnavailable, SolverTimeout, ProblemTooLarge, RuntimeError, MemoryError)


@dataclass(frozen=True)
class Attempt:
    """A solver that was tried and failed, and why."""

    solver: str
    error_type: str
    message: str
    wall_s: float


@dataclass(frozen=True)
class SolveResult:
    sampleset: dimod.SampleSet
    solver: str  # the solver whose samples these are
    attempts: list[Attempt] = field(default_factory=list)  # failed tries before it, in order
    wall_s: float = 0.0
    proven_optimal: bool = False

    @property
    def energy(self) -> float:
        return float(self.sampleset.first.energy)

    @property
    def sample(self) -> Mapping[Hashable, int]:
        return dict(self.sampleset.first.sample)

    def summary(self) -> str:
        failed = "; ".join(f"{a.solver}: {a.error_type}: {a.message}" for a in self.attempts)
        text = (
            f"solver={self.solver} energy={self.energy:.6g} wall={self.wall_s:.3f}s "
            f"proven_optimal={self.proven_optimal}"
        )
        return text + (f" (failed first: {failed})" if failed else "")


def check_solver_names(names: Iterable[object]) -> None:
    """``InvalidProblem`` unless every name is a registered solver."""
    known = set(solver_names())
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise InvalidProblem(
                f"solver: unknown name {name!r}; registered solvers: {', '.join(sorted(known))}."
            )


def solve(
    bqm: dimod.BinaryQuadraticModel,
    solver: str = "auto",
    fallback: Iterable[str] = (),
    time_limit: float | None = None,
    seed: int | None = None,
    **params: Any,
) -> SolveResult:
    """Solve ``bqm`` with ``solver``; if it cannot run, try each name in ``fallback`` in turn.

    ``time_limit`` (seconds) is the budget of the whole call: each fallback gets what is left.
    ``params`` go to the first solver only; fallbacks run with their defaults.
    Bad input raises ``InvalidProblem`` at once; ``AllSolversFailed`` lists every attempt.
    A model without variables is solved too: every solver returns its one (empty) assignment,
    whose energy is the offset, as proven optimal (dimod's convention).
    """
    validate_bqm(bqm)
    if isinstance(fallback, str):
        fallback = (fallback,)
    if not isinstance(fallback, Iterable):
        raise InvalidProblem(
            f"fallback: {fallback!r}; pass a solver name or a list of names, e.g. ['sa']."
        )
    names = [solver, *fallback]
    check_solver_names(names)
    budget = None if time_limit is None else check_time_limit(time_limit)
    start = time.perf_counter()
    attempts: list[Attempt] = []
    for position, name in enumerate(names):
        left = None if budget is None else budget - (time.perf_counter() - start)
        tried = time.perf_counter()
        if left is not None and left <= 0:
            attempts.append(Attempt(name, "SolverTimeout", "no time left in the budget", 0.0))
            continue
        kwargs = dict(params) if position == 0 else {}
        if left is not None:
            kwargs["time_limit"] = left
        if seed is not None:
            kwargs["seed"] = seed
        try:
            sampler = get_solver(name)
            sampleset = sampler.sample(bqm, **kwargs)
        except InvalidProblem:
            raise
        except FALLBACK_ERRORS as exc:
            attempts.append(
                Attempt(name, type(exc).__name__, str(exc), time.perf_counter() - tried)
            )
            continue
        proven = bool(sampleset.info.get("proven_optimal", False))
        return SolveResult(sampleset, name, attempts, time.perf_counter() - start, proven)
    detail = "; ".join(f"{a.solver}: {a.error_type}: {a.message}" for a in attempts)
    raise AllSolversFailed(f"every solver failed ({detail})", attempts)


__all__ = ["Attempt", "QcoreError", "SolveResult", "solve"]
