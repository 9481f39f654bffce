"""Weight-space combining: model soups and hierarchical (tree) aggregation.

Soups (Wortsman et al. 2022, "Model soups") average the parameters of members fine-tuned from
one shared initialisation; averaging members trained from different initialisations does not
work (their hidden units are permuted), so keep ``share_init=True`` in :class:`Ensemble` when
you want a soup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qensemble._checks import check_int
from qensemble._updates import Updates, as_matrix, restore
from qensemble.errors import EmptyEnsemble, InvalidParameter, MemberShapeMismatch

__all__ = ["GreedySoup", "TreeResult", "greedy_soup", "tree_aggregate", "uniform_soup"]


def uniform_soup(states: Updates) -> Any:
    """The parameter-wise mean of the members' state dicts (or rows of a matrix)."""
    matrix, layout = as_matrix(states, "states")
    return restore(matrix.mean(axis=0), layout)


@dataclass
class GreedySoup:
    state: Any
    ingredients: list[int]  # member indices, in the order they were added
    score: float  # held-out score of the soup


def greedy_soup(
    states: Sequence[Mapping[str, Any]],
    scores: Sequence[float] | np.ndarray,
    evaluate: Callable[[Any], float],
) -> GreedySoup:
    """Wortsman et al.'s greedy soup: add members best-first while the held-out score does not drop.

    ``scores``: each member's own held-out score (decides the order); ``evaluate(state)``
    scores a candidate soup on the same held-out data (higher is better).
    """
    matrix, layout = as_matrix(states, "states")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(matrix),):
        raise MemberShapeMismatch(
            f"scores: has shape {s.shape}; pass one held-out score per member ({len(matrix)})."
        )
    if not np.all(np.isfinite(s)):
        raise InvalidParameter("scores: contains NaN or inf; pass finite held-out scores.")
    order = [int(i) for i in np.argsort(-s, kind="stable")]
    chosen = [order[0]]
    best = float(evaluate(restore(matrix[order[0]].copy(), layout)))
    for i in order[1:]:
        candidate = restore(matrix[[*chosen, i]].mean(axis=0), layout)
        score = float(evaluate(candidate))
        if score >= best:
            chosen.append(i)
            best = score
    return GreedySoup(restore(matrix[chosen].mean(axis=0), layout), chosen, best)


@dataclass
class TreeResult:
    aggregate: Any
    depth: int  # reduction levels: ceil(log_fanout(n))
    combines: int  # number of group reductions performed


def tree_aggregate(
    updates: Updates,
    weights: Sequence[float] | np.ndarray | None = None,
    fanout: int = 2,
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> TreeResult:
    """Reduce ``n`` updates level by level in groups of ``fanout``: ``ceil(log_fanout n)`` levels.

    Each node carries (weighted sum, total weight), so with the default combine the root equals
    the flat weighted mean exactly (up to rounding), whatever the tree shape; in a real
    deployment each level runs in parallel and no node receives more than ``fanout`` vectors.
    ``combine(group_vectors, group_weights)`` may replace the weighted mean (e.g. a robust rule
    per group); it then returns the group's representative, weighted by the group's total.
    """
    matrix, layout = as_matrix(updates)
    n = len(matrix)
    k = check_int(fanout, "fanout", 2)
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InvalidParameter(f"weights: pass {n} finite non-negative weights, not all zero.")
    if n == 0:
        raise EmptyEnsemble("updates: has no workers.")
    vectors, totals = matrix, w
    depth = combines = 0
    while len(vectors) > 1:
        new_vectors, new_totals = [], []
        for start in range(0, len(vectors), k):
            group, gw = vectors[start : start + k], totals[start : start + k]
            total = gw.sum()
            if combine is None:
                rep = gw @ group / total if total > 0 else group.mean(axis=0)
            else:
                rep = np.asarray(combine(group, gw), dtype=np.float64)
            new_vectors.append(rep)
            new_totals.append(total)
            combines += 1
        vectors, totals = np.stack(new_vectors), np.array(new_totals)
        depth += 1
    return TreeResult(restore(vectors[0], layout), depth, combines)
