"""Diverse key subsets for attention, as a QUBO solved through qcore (an experiment).

Plain top-k keeps the ``top_k`` highest-scoring keys even when several of them are near copies
of each other. Here the ``candidates`` best keys of one query are the items of a subset
selection: choose exactly ``top_k`` of them maximising

    sum_i p_i  -  redundancy * sum_{i<j} max(cos(k_i, k_j), 0) * (p_i + p_j) / 2

where ``p`` is the softmax of the candidates' scores. That is ``qcore.problems.subset_selection``
(a BQM with an exactly-k penalty), solved by ``qcore.solve`` (``exact`` proves the optimum up
to 26 candidates). Greedy maximal marginal relevance (:func:`greedy_key_subset`) optimises the
same objective classically and is the baseline. One QUBO per query makes this slow: it is for
small cases only, and the benchmark states its cost per query next to top-k's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from qattention.errors import InvalidArgument, InvalidShape


@dataclass(frozen=True)
class KeySubset:
    """Chosen key indices (into the full key axis, sorted), the objective, who solved it."""

    indices: list[int]
    objective: float
    solver: str
    wall_s: float


def _problem_terms(
    scores: torch.Tensor, keys: torch.Tensor, candidates: int, redundancy: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    top = torch.topk(scores.detach(), candidates).indices
    top = top[torch.isfinite(scores.detach()[top])]
    p = torch.softmax(scores.detach()[top].double(), dim=0).cpu().numpy()
    unit = torch.nn.functional.normalize(keys.detach()[top].double(), dim=-1).cpu().numpy()
    cos = np.clip(unit @ unit.T, 0.0, None)
    pairwise = redundancy * cos * (p[:, None] + p[None, :]) / 2.0
    np.fill_diagonal(pairwise, 0.0)
    return top.cpu().numpy(), p, (pairwise + pairwise.T) / 2.0


def _objective(p: np.ndarray, pairwise: np.ndarray, chosen: list[int]) -> float:
    sub = pairwise[np.ix_(chosen, chosen)]
    return float(p[chosen].sum() - np.triu(sub, 1).sum())


def _check(
    scores: object, keys: object, top_k: object, candidates: object, redundancy: object
) -> None:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1:
        raise InvalidShape("scores must be a 1-D tensor (one query's scores over the keys)")
    if not isinstance(keys, torch.Tensor) or keys.dim() != 2 or keys.shape[0] != scores.shape[0]:
        raise InvalidShape(f"keys must be (S, E) with S = {scores.shape[0]} (len(scores))")
    for name, value in (("top_k", top_k), ("candidates", candidates)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
    if candidates > scores.shape[0]:
        raise InvalidArgument(
            f"candidates ({candidates}) must be at most the number of keys ({scores.shape[0]})"
        )
    if top_k > candidates:
        raise InvalidArgument(f"top_k ({top_k}) must be at most candidates ({candidates})")
    if (
        isinstance(redundancy, bool)
        or not isinstance(redundancy, int | float)
        or not math.isfinite(redundancy)
        or redundancy < 0
    ):
        raise InvalidArgument(f"redundancy must be a finite number >= 0, got {redundancy!r}")


def qubo_key_subset(
    scores: torch.Tensor,
    keys: torch.Tensor,
    top_k: int,
    *,
    candidates: int = 16,
    redundancy: float = 1.0,
    solver: str = "exact",
    seed: int = 0,
    time_limit: float | None = None,
) -> KeySubset:
    """Choose ``top_k`` diverse keys for one query by solving the subset-selection QUBO."""
    import qcore
    from qcore.problems import subset_selection

    _check(scores, keys, top_k, candidates, redundancy)
    start = time.perf_counter()
    index, p, pairwise = _problem_terms(scores, keys, candidates, redundancy)
    count = min(top_k, len(index))
    problem = subset_selection(p, pairwise, k=count)
    result = qcore.solve(problem.bqm, solver=solver, seed=seed, time_limit=time_limit)
    decoded = problem.decode(result)
    chosen = list(decoded.solution.items)
    if not decoded.feasible or len(chosen) != count:
        # a heuristic solver may return a penalised infeasible state; never hand that on
        raise RuntimeError(
            f"solver {result.solver!r} returned an infeasible subset ({len(chosen)} of {count} "
            "keys); use solver='exact' for up to 26 candidates"
        )
    return KeySubset(
        indices=sorted(int(index[i]) for i in chosen),
        objective=_objective(p, pairwise, chosen),
        solver=result.solver,
        wall_s=time.perf_counter() - start,
    )


def greedy_key_subset(
    scores: torch.Tensor,
    keys: torch.Tensor,
    top_k: int,
    *,
    candidates: int = 16,
    redundancy: float = 1.0,
) -> KeySubset:
    """The same objective maximised greedily (maximal marginal relevance): the baseline."""
    _check(scores, keys, top_k, candidates, redundancy)
    start = time.perf_counter()
    index, p, pairwise = _problem_terms(scores, keys, candidates, redundancy)
    chosen: list[int] = []
    rest = list(range(len(index)))
    for _ in range(min(top_k, len(index))):
        gains = [p[j] - pairwise[j, chosen].sum() for j in rest]
        best = rest[int(np.argmax(gains))]
        chosen.append(best)
        rest.remove(best)
    return KeySubset(
        indices=sorted(int(index[i]) for i in chosen),
        objective=_objective(p, pairwise, chosen),
        solver="greedy",
        wall_s=time.perf_counter() - start,
    )


def subset_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    top_k: int,
    *,
    method: str = "qubo",
    candidates: int = 16,
    redundancy: float = 1.0,
    solver: str = "exact",
    seed: int = 0,
) -> torch.Tensor:
    """Attention of each query over a diverse key subset: ``q (L, E)``, ``k (S, E)``, ``v (S, Ev)``.

    ``method`` is ``"qubo"`` (:func:`qubo_key_subset`) or ``"greedy"``. One selection per
    query, so this is for small ``L``; gradients flow through the scores of the chosen keys.
    """
    if method not in ("qubo", "greedy"):
        raise InvalidArgument(f"method must be 'qubo' or 'greedy', got {method!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise InvalidShape(f"{name} must be a 2-D tensor (length, dim)")
    if q.shape[1] != k.shape[1] or k.shape[0] != v.shape[0]:
        raise InvalidShape(
            f"need q (L, E), k (S, E), v (S, Ev); got {tuple(q.shape)}, {tuple(k.shape)}, "
            f"{tuple(v.shape)}"
        )
    scores = q @ k.T / math.sqrt(q.shape[1])
    rows = []
    for i in range(q.shape[0]):
        if method == "qubo":
            subset = qubo_key_subset(
                scores[i],
                k,
                top_k,
                candidates=candidates,
                redundancy=redundancy,
                solver=solver,
                seed=seed,
            )
        else:
            subset = greedy_key_subset(
                scores[i], k, top_k, candidates=candidates, redundancy=redundancy
            )
        idx = torch.tensor(subset.indices, device=q.device)
        rows.append(torch.softmax(scores[i, idx], dim=0) @ v[idx])
    return torch.stack(rows)
