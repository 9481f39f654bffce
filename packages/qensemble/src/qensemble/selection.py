"""Ensemble selection: which ``k`` of the trained members to keep.

- :func:`qubo_select`: a binary quadratic model solved through qcore. Variable ``x_i`` keeps
  member ``i``; the objective rewards each kept member's validation accuracy and penalises
  every kept pair by the correlation of their error indicators (members that fail on the same
  samples add little together); exactly ``k`` members are kept (qcore's ``subset_selection``,
  an equality constraint penalised into the BQM).
- :func:`caruana_select`: Caruana, Niculescu-Mizil, Crew, Ksikes 2004, "Ensemble selection
  from libraries of models": greedy forward selection by the ensemble's validation accuracy,
  the classical anchor, at the same ``k``.
- :func:`top_k_select`: the ``k`` individually best members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qensemble._checks import check_int, check_labels, check_probs
from qensemble.errors import InvalidParameter

__all__ = [
    "Selection",
    "caruana_select",
    "ensemble_accuracy",
    "error_correlation",
    "qubo_select",
    "top_k_select",
]


@dataclass
class Selection:
    members: list[int]  # indices into the member axis (with repeats for Caruana + replacement)
    method: str
    val_accuracy: float  # accuracy of the mean of the chosen members on the selection data
    info: dict[str, Any] = field(default_factory=dict)


def ensemble_accuracy(probs: np.ndarray, y: np.ndarray, members: list[int]) -> float:
    """Accuracy of the plain mean of ``members``' probabilities."""
    return float((probs[members].mean(axis=0).argmax(axis=1) == y).mean())


def _inputs(probs: Any, y: Any, k: Any) -> tuple[np.ndarray, np.ndarray, int]:
    p = check_probs(probs)
    labels = check_labels(y, p.shape[1], p.shape[2])
    return p, labels, check_int(k, "k", 1, p.shape[0])


def error_correlation(probs: Any, y: Any) -> np.ndarray:
    """Pearson correlation of the members' 0/1 error indicators on ``(probs, y)``.

    A member that is always right or always wrong has no variance; its correlations are 0.
    """
    p = check_probs(probs)
    labels = check_labels(y, p.shape[1], p.shape[2])
    errors = (p.argmax(axis=2) != labels).astype(np.float64)
    centred = errors - errors.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    corr = centred @ centred.T / np.outer(safe, safe)
    corr[norms == 0, :] = 0.0
    corr[:, norms == 0] = 0.0
    np.fill_diagonal(corr, 0.0)
    return corr


def _val_key(p: np.ndarray, labels: np.ndarray, members: list[int]) -> tuple[float, float]:
    mix = p[members].mean(axis=0)
    loglik = float(np.log(np.clip(mix[np.arange(len(labels)), labels], 1e-12, None)).mean())
    return float((mix.argmax(axis=1) == labels).mean()), loglik


def qubo_select(
    probs: Any,
    y: Any,
    k: int,
    *,
    redundancy: float | Sequence[float] = 1.0,
    pair_term: str = "correlation",
    solver: str = "auto",
    seed: int | None = 0,
    time_limit: float | None = None,
) -> Selection:
    """Choose exactly ``k`` members by minimising the BQM described in the module docstring.

    Objective (maximised): ``sum_i acc_i x_i - lam * sum_{i<j} corr_ij x_i x_j`` with
    ``lam = redundancy * 2 / (k - 1)``, which puts the pair term on the scale of the
    accuracy term (``k`` kept members have ``k (k-1) / 2`` pairs). Up to 20 members qcore's
    ``auto`` enumerates them exactly (``info["proven_optimal"]``).

    ``pair_term="coerror"`` penalises instead the fraction of samples both members get wrong
    (Zhang, Burer & Street 2006, "Ensemble pruning via semi-definite programming"), with
    ``lam = redundancy``.

    ``redundancy`` may be a sequence: one QUBO per value, and the subset whose mean has the
    best accuracy on ``(probs, y)`` (ties: mean log-probability of the true class) is returned,
    with the chosen value in ``info["redundancy"]``; the same data Caruana's greedy scores on.
    """
    if pair_term not in ("correlation", "coerror"):
        raise InvalidParameter(f"pair_term: is {pair_term!r}; choose 'correlation' or 'coerror'.")
    if isinstance(redundancy, Sequence) and not isinstance(redundancy, str):
        if len(redundancy) == 0:
            raise InvalidParameter("redundancy: is an empty sequence; pass values >= 0.")
        p, labels, _ = _inputs(probs, y, k)
        tried = [
            qubo_select(
                p,
                labels,
                k,
                redundancy=r,
                pair_term=pair_term,
                solver=solver,
                seed=seed,
                time_limit=time_limit,
            )
            for r in redundancy
        ]
        best = max(tried, key=lambda sel: _val_key(p, labels, sel.members))
        best.info["tried"] = [(t.info["redundancy"], t.members) for t in tried]
        best.info["wall_s"] = sum(t.info["wall_s"] for t in tried)
        return best
    import qcore
    from qcore.problems import subset_selection

    p, labels, size = _inputs(probs, y, k)
    if (
        isinstance(redundancy, bool)
        or not isinstance(redundancy, int | float)
        or not np.isfinite(redundancy)
        or redundancy < 0
    ):
        raise InvalidParameter(f"redundancy: is {redundancy!r}; pass a number >= 0.")
    accuracy = (p.argmax(axis=2) == labels[None, :]).mean(axis=1)
    if pair_term == "correlation":
        pairs = error_correlation(p, labels)
        lam = float(redundancy) * (2.0 / (size - 1) if size > 1 else 0.0)
    else:
        # Zhang, Burer, Street 2006 (ensemble pruning): the fraction of samples both members
        # get wrong; with exactly k kept, minimising sum(err_i) + sum_{i<j} coerr_ij needs no
        # scale factor (both terms are error rates).
        wrong = (p.argmax(axis=2) != labels[None, :]).astype(np.float64)
        pairs = wrong @ wrong.T / len(labels)
        np.fill_diagonal(pairs, 0.0)
        lam = float(redundancy)
    problem = subset_selection(accuracy, lam * pairs, k=size)
    result = qcore.solve(problem.bqm, solver=solver, seed=seed, time_limit=time_limit)
    decoded = problem.decode(result)
    chosen = sorted(int(i) for i in decoded.solution.items)
    if not decoded.feasible or len(chosen) != size:
        # A heuristic solver may miss the equality on hard instances: say so, never pad quietly.
        raise InvalidParameter(
            f"solver: {result.solver} returned {len(chosen)} members instead of k={size}; "
            "use solver='exact' (up to 26 members) or a longer time_limit."
        )
    return Selection(
        chosen,
        "qubo",
        ensemble_accuracy(p, labels, chosen),
        {
            "solver": result.solver,
            "proven_optimal": result.proven_optimal,
            "objective": float(decoded.solution.value),
            "energy": result.energy,
            "lambda": lam,
            "redundancy": float(redundancy),
            "pair_term": pair_term,
            "wall_s": result.wall_s,
        },
    )


def caruana_select(probs: Any, y: Any, k: int, *, replacement: bool = False) -> Selection:
    """Greedy forward selection: repeatedly add the member that most improves the ensemble.

    The score is validation accuracy of the mean probabilities, ties broken by the mean
    log-probability of the true class, then by the lower index. ``replacement=True`` is
    Caruana's variant where a member may be added again (it then weighs more); the default
    picks ``k`` distinct members, the same budget as :func:`qubo_select`.
    """
    p, labels, size = _inputs(probs, y, k)
    members = p.shape[0]
    chosen: list[int] = []
    total = np.zeros(p.shape[1:])
    rows = np.arange(p.shape[1])
    for _ in range(size):
        best_key: tuple[float, float] | None = None
        best_i = -1
        for i in range(members):
            if not replacement and i in chosen:
                continue
            mix = (total + p[i]) / (len(chosen) + 1)
            acc = float((mix.argmax(axis=1) == labels).mean())
            loglik = float(np.log(np.clip(mix[rows, labels], 1e-12, None)).mean())
            key = (acc, loglik)
            if best_key is None or key > best_key:
                best_key, best_i = key, i
        chosen.append(best_i)
        total += p[best_i]
    return Selection(chosen, "caruana", ensemble_accuracy(p, labels, chosen))


def top_k_select(probs: Any, y: Any, k: int) -> Selection:
    """The ``k`` members with the best individual validation accuracy (ties: lower index)."""
    p, labels, size = _inputs(probs, y, k)
    accuracy = (p.argmax(axis=2) == labels[None, :]).mean(axis=1)
    chosen = sorted(int(i) for i in np.argsort(-accuracy, kind="stable")[:size])
    return Selection(chosen, "top_k", ensemble_accuracy(p, labels, chosen))
