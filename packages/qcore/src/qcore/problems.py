"""Classic problems as :class:`qcore.constraints.Problem`: a CQM, its penalised BQM, a decoder.

Every builder checks its input, states the problem as a ``dimod.ConstrainedQuadraticModel``
(objective to *minimise* plus integer linear hard constraints) and penalises it with
:func:`qcore.constraints.auto_penalty`, so the optimum of ``problem.bqm`` is feasible.
``problem.decode(sampleset)`` returns the domain answer in ``Decoded.solution``.

>>> import dimod, networkx as nx
>>> from qcore.problems import maxcut
>>> problem = maxcut(nx.cycle_graph(4))
>>> problem.decode(dimod.ExactSolver().sample(problem.bqm)).solution.value
4.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import dimod
import networkx as nx
import numpy as np

from qcore.constraints import Problem, check_integer
from qcore.errors import InvalidProblem

__all__ = [
    "AssignmentSolution",
    "ColoringSolution",
    "CutSolution",
    "PartitionSolution",
    "SelectionSolution",
    "assignment",
    "graph_coloring",
    "graph_partition",
    "maxcut",
    "subset_selection",
]


# --------------------------------------------------------------------------- solutions


@dataclass(frozen=True)
class CutSolution:
    """The two sides of a cut and its value ``sum(w_uv)`` over edges across it."""

    sides: tuple[frozenset, frozenset]
    value: float


@dataclass(frozen=True)
class PartitionSolution:
    """``part[node]``: the part of each node (``None`` if the sample gives it none or several)."""

    part: dict[Hashable, int | None]
    parts: list[frozenset]
    sizes: list[int]
    cut_value: float  # weight of edges whose endpoints lie in different parts (both assigned)


@dataclass(frozen=True)
class ColoringSolution:
    """``color[node]`` (``None`` if none or several), and the edges whose ends share a colour."""

    color: dict[Hashable, int | None]
    conflicts: list[tuple[Hashable, Hashable]]
    num_colors: int

    @property
    def proper(self) -> bool:
        return not self.conflicts and None not in self.color.values()


@dataclass(frozen=True)
class AssignmentSolution:
    """``bin_of[item]`` (``None``: none or several), the cost, each bin's load, overloaded bins."""

    bin_of: dict[int, int | None]
    cost: float
    loads: list[int]
    overloaded: list[int]


@dataclass(frozen=True)
class SelectionSolution:
    """The chosen items (sorted) and ``value = sum(values) - sum(pairwise redundancy)``."""

    items: list[int]
    value: float


# --------------------------------------------------------------------------- checks


def _graph(G: object, field_name: str = "G") -> nx.Graph:
    if not isinstance(G, nx.Graph):
        raise InvalidProblem(
            f"{field_name}: expected a networkx.Graph, got {type(G).__name__}; build one with "
            "networkx.Graph(edge_list)."
        )
    if G.is_directed():
        raise InvalidProblem(
            f"{field_name}: is directed; these problems are on undirected graphs. Pass "
            "G.to_undirected()."
        )
    if G.number_of_nodes() == 0:
        raise InvalidProblem(f"{field_name}: has no nodes; pass a graph with at least one node.")
    return G


def _edges(
    G: nx.Graph, weight: str | None, *, loops: str = "skip"
) -> list[tuple[Hashable, Hashable, float]]:
    """(u, v, w) per edge (parallel edges of a multigraph each once), weights checked finite."""
    edges = []
    for u, v, w in G.edges(data=weight, default=1) if weight else G.edges(data=True):
        value = w if weight else 1
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidProblem(
                f"G: edge ({u!r}, {v!r}) has {weight!r} = {value!r}; edge weights must be "
                "numbers (or pass weight=None for unit weights)."
            )
        if not math.isfinite(float(value)):
            raise InvalidProblem(
                f"G: edge ({u!r}, {v!r}) has {weight!r} = {value}; edge weights must be finite."
            )
        if u == v:
            if loops == "reject":
                raise InvalidProblem(
                    f"G: has a self-loop at {u!r}; a node cannot differ from itself, so remove "
                    "self-loops (G.remove_edges_from(nx.selfloop_edges(G)))."
                )
            continue  # a self-loop never crosses a cut
        edges.append((u, v, float(value)))
    return edges


def _vector(values: object, field_name: str, length: int | None = None) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidProblem(
            f"{field_name}: could not read as numbers; pass a list or 1-D array of numbers."
        ) from None
    if array.ndim != 1 or array.size == 0:
        raise InvalidProblem(
            f"{field_name}: expected a non-empty 1-D sequence of numbers, got shape {array.shape}."
        )
    if length is not None and array.size != length:
        raise InvalidProblem(
            f"{field_name}: has {array.size} entries but {length} are needed (one per item/bin)."
        )
    if not np.all(np.isfinite(array)):
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidProblem(f"{field_name}[{i}]: is {array[i]}; every entry must be finite.")
    return array


def _integers(values: object, field_name: str, length: int) -> list[int]:
    array = _vector(values, field_name, length)
    return [check_integer(float(x), f"{field_name}[{i}]", minimum=0) for i, x in enumerate(array)]


def _matrix(values: object, field_name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidProblem(
            f"{field_name}: could not read as a 2-D array of numbers; pass a list of rows."
        ) from None
    if array.ndim != 2 or 0 in array.shape:
        raise InvalidProblem(
            f"{field_name}: expected a non-empty 2-D array (rows x columns), got shape "
            f"{array.shape}."
        )
    if not np.all(np.isfinite(array)):
        i, j = (int(x) for x in np.argwhere(~np.isfinite(array))[0])
        raise InvalidProblem(
            f"{field_name}[{i}][{j}]: is {array[i, j]}; every entry must be finite "
            "(to forbid a pair, drop it or use a large finite cost)."
        )
    return array


def _one_of(sample: Mapping[Hashable, int], node: Hashable, k: int) -> int | None:
    chosen = [c for c in range(k) if sample[(node, c)] == 1]
    return chosen[0] if len(chosen) == 1 else None


# --------------------------------------------------------------------------- max-cut


def maxcut(G: nx.Graph, weight: str | None = "weight") -> Problem:
    """Weighted max-cut as a SPIN model with energy ``-cut``.

    One spin per node; objective ``sum_uv w_uv (s_u s_v - 1) / 2`` (``J_uv = w_uv / 2``,
    offset ``-W/2``), which is minus the weight of edges whose ends have different spins.
    Edges without the ``weight`` attribute weigh 1 (``weight=None``: all weigh 1); negative
    weights are fine; self-loops never cross a cut and are ignored. There are no constraints.
    ``solution`` is a :class:`CutSolution` (sides: spin -1 nodes, spin +1 nodes).
    """
    G = _graph(G)
    edges = _edges(G, weight)
    bqm = dimod.BinaryQuadraticModel(dimod.SPIN)
    bqm.add_variables_from((v, 0.0) for v in G.nodes)
    for u, v, w in edges:
        bqm.add_quadratic(u, v, w / 2)
        bqm.offset -= w / 2
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(bqm)

    def interpret(sample: dict[Hashable, int]) -> CutSolution:
        value = sum(w for u, v, w in edges if sample[u] != sample[v])
        minus = frozenset(v for v in G.nodes if sample[v] == -1)
        plus = frozenset(v for v in G.nodes if sample[v] == 1)
        return CutSolution((minus, plus), float(value))

    return Problem.from_cqm(cqm, interpret=interpret, name="maxcut")


# --------------------------------------------------------------------------- partition


def graph_partition(
    G: nx.Graph, k: int, weight: str | None = "weight", tolerance: int = 0
) -> Problem:
    """Balanced ``k``-way partition of ``G`` minimising the weight of edges between parts.

    Binary ``(node, part)`` variables; hard constraints: each node in exactly one part
    (``one_hot[node]``) and each part's size within ``[floor(n/k) - tolerance,
    ceil(n/k) + tolerance]`` (``size[p]``, or ``size_min[p]`` / ``size_max[p]``).
    Objective: ``W - sum_p sum_uv w_uv x_up x_vp``, the cut weight on feasible samples.
    ``solution`` is a :class:`PartitionSolution`.
    """
    G = _graph(G)
    n = G.number_of_nodes()
    parts = check_integer(k, "k", minimum=1)
    if parts > n:
        raise InvalidProblem(f"k: is {parts} but G has only {n} nodes; use 1 <= k <= {n}.")
    slack = check_integer(tolerance, "tolerance", minimum=0)
    edges = _edges(G, weight)
    nodes = list(G.nodes)
    cqm = dimod.ConstrainedQuadraticModel()
    objective = dimod.BinaryQuadraticModel(dimod.BINARY)
    objective.add_variables_from(((v, p), 0.0) for v in nodes for p in range(parts))
    for u, v, w in edges:
        objective.offset += w
        for p in range(parts):
            objective.add_quadratic((u, p), (v, p), -w)
    cqm.set_objective(objective)
    for v in nodes:
        cqm.add_constraint_from_iterable(
            [((v, p), 1) for p in range(parts)], "==", 1, f"one_hot[{v!r}]"
        )
    low, high = max(0, n // parts - slack), min(n, -(-n // parts) + slack)
    for p in range(parts):
        members = [((v, p), 1) for v in nodes]
        if low == high:
            cqm.add_constraint_from_iterable(members, "==", low, f"size[{p}]")
            continue
        if low > 0:
            cqm.add_constraint_from_iterable(members, ">=", low, f"size_min[{p}]")
        if high < n:
            cqm.add_constraint_from_iterable(members, "<=", high, f"size_max[{p}]")

    def interpret(sample: dict[Hashable, int]) -> PartitionSolution:
        part = {v: _one_of(sample, v, parts) for v in nodes}
        groups = [frozenset(v for v in nodes if part[v] == p) for p in range(parts)]
        cut = sum(w for u, v, w in edges if None not in (part[u], part[v]) and part[u] != part[v])
        return PartitionSolution(part, groups, [len(g) for g in groups], float(cut))

    return Problem.from_cqm(cqm, interpret=interpret, name=f"graph_partition(k={parts})")


# --------------------------------------------------------------------------- colouring


def graph_coloring(G: nx.Graph, k: int) -> Problem:
    """Colour the nodes of ``G`` with ``k`` colours, minimising edges whose ends share one.

    Binary ``(node, colour)`` variables; hard constraint: one colour per node
    (``one_hot[node]``). Objective: the number of conflicting edges (0 for a proper colouring),
    so when ``G`` needs more than ``k`` colours the optimum is the colouring with fewest
    conflicts. Self-loops are rejected. ``solution`` is a :class:`ColoringSolution`.
    """
    G = _graph(G)
    n = G.number_of_nodes()
    colors = check_integer(k, "k", minimum=1)
    if colors > n:
        raise InvalidProblem(
            f"k: is {colors} but G has only {n} nodes, which never need more than {n} colours; "
            f"use 1 <= k <= {n}."
        )
    edges = _edges(G, None, loops="reject")
    unique: dict[frozenset, tuple[Hashable, Hashable]] = {}
    for u, v, _ in edges:  # a multigraph's parallel edges count once
        unique.setdefault(frozenset((u, v)), (u, v))
    pairs = list(unique.values())
    nodes = list(G.nodes)
    objective = dimod.BinaryQuadraticModel(dimod.BINARY)
    objective.add_variables_from(((v, c), 0.0) for v in nodes for c in range(colors))
    for u, v in pairs:
        for c in range(colors):
            objective.add_quadratic((u, c), (v, c), 1.0)
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(objective)
    for v in nodes:
        cqm.add_constraint_from_iterable(
            [((v, c), 1) for c in range(colors)], "==", 1, f"one_hot[{v!r}]"
        )

    def interpret(sample: dict[Hashable, int]) -> ColoringSolution:
        color = {v: _one_of(sample, v, colors) for v in nodes}
        conflicts = []
        for u, v in pairs:
            if any(sample[(u, c)] == 1 and sample[(v, c)] == 1 for c in range(colors)):
                conflicts.append((u, v))
        used = len({c for c in color.values() if c is not None})
        return ColoringSolution(color, conflicts, used)

    return Problem.from_cqm(cqm, interpret=interpret, name=f"graph_coloring(k={colors})")


# --------------------------------------------------------------------------- assignment


def assignment(
    cost: Sequence[Sequence[float]] | np.ndarray,
    capacities: Sequence[int] | np.ndarray,
    demands: Sequence[int] | np.ndarray | None = None,
) -> Problem:
    """Put each item in exactly one bin within integer capacities, minimising total cost.

    ``cost[i][b]``: the cost of item ``i`` in bin ``b`` (finite). ``capacities[b]`` and
    ``demands[i]`` (default 1 each) are non-negative integers (scale fractional sizes).
    Binary ``(item, bin)`` variables; hard constraints ``assign[i]`` (one bin per item) and
    ``capacity[b]`` (``sum_i demand_i x_ib <= capacity_b``). Instances that are plainly
    infeasible (total demand above total capacity, an item larger than every bin) are
    rejected; other infeasible ones (bin packing is hard) show up as violations.
    ``solution`` is an :class:`AssignmentSolution`.
    """
    costs = _matrix(cost, "cost")
    n_items, n_bins = costs.shape
    caps = _integers(capacities, "capacities", n_bins)
    needs = [1] * n_items if demands is None else _integers(demands, "demands", n_items)
    if sum(needs) > sum(caps):
        raise InvalidProblem(
            f"demands: total {sum(needs)} exceeds the total capacity {sum(caps)}; no assignment "
            "fits. Raise capacities or drop items."
        )
    for i, need in enumerate(needs):
        if need > max(caps):
            raise InvalidProblem(
                f"demands[{i}]: is {need}, more than the largest capacity {max(caps)}; the item "
                "fits in no bin."
            )
    cqm = dimod.ConstrainedQuadraticModel()
    objective = dimod.BinaryQuadraticModel(dimod.BINARY)
    objective.add_variables_from(
        ((i, b), float(costs[i, b])) for i in range(n_items) for b in range(n_bins)
    )
    cqm.set_objective(objective)
    for i in range(n_items):
        cqm.add_constraint_from_iterable(
            [((i, b), 1) for b in range(n_bins)], "==", 1, f"assign[{i}]"
        )
    for b in range(n_bins):
        terms = [((i, b), needs[i]) for i in range(n_items) if needs[i]]
        if sum(needs[i] for i in range(n_items)) > caps[b] and terms:
            cqm.add_constraint_from_iterable(terms, "<=", caps[b], f"capacity[{b}]")

    def interpret(sample: dict[Hashable, int]) -> AssignmentSolution:
        bin_of: dict[int, int | None] = {}
        for i in range(n_items):
            chosen = [b for b in range(n_bins) if sample[(i, b)] == 1]
            bin_of[i] = chosen[0] if len(chosen) == 1 else None
        loads = [
            sum(needs[i] for i in range(n_items) if sample[(i, b)] == 1) for b in range(n_bins)
        ]
        total = sum(costs[i, b] for i in range(n_items) for b in range(n_bins) if sample[(i, b)])
        over = [b for b in range(n_bins) if loads[b] > caps[b]]
        return AssignmentSolution(bin_of, float(total), loads, over)

    return Problem.from_cqm(cqm, interpret=interpret, name="assignment")


# --------------------------------------------------------------------------- subset selection


def subset_selection(
    values: Sequence[float] | np.ndarray,
    pairwise: Sequence[Sequence[float]] | np.ndarray | None = None,
    k: int | None = None,
    at_most: int | None = None,
) -> Problem:
    """Choose items maximising ``sum(values[i]) - sum_{i<j} pairwise[i][j]`` over chosen items.

    ``pairwise`` is a symmetric matrix of redundancies (zero diagonal; ``None``: no
    redundancy). Give ``k`` for exactly ``k`` items (constraint ``choose``), ``at_most`` for
    at most that many (``choose_at_most``), or neither for any number. Binary variable ``i``
    per item; the objective minimised is the negated value. ``solution`` is a
    :class:`SelectionSolution`.
    """
    gains = _vector(values, "values")
    n = gains.size
    if pairwise is None:
        redundancy = np.zeros((n, n))
    else:
        redundancy = _matrix(pairwise, "pairwise")
        if redundancy.shape != (n, n):
            raise InvalidProblem(
                f"pairwise: has shape {redundancy.shape} but values has {n} entries; pass an "
                f"{n} x {n} matrix."
            )
        if not np.allclose(redundancy, redundancy.T, rtol=1e-9, atol=1e-12):
            raise InvalidProblem(
                "pairwise: is not symmetric; pass (P + P.T) / 2 or fill both triangles."
            )
        if np.any(np.diag(redundancy) != 0):
            raise InvalidProblem(
                "pairwise: has a non-zero diagonal; put per-item terms in values instead."
            )
    if k is not None and at_most is not None:
        raise InvalidProblem("k, at_most: give at most one of them (exactly k, or at most).")
    cqm = dimod.ConstrainedQuadraticModel()
    objective = dimod.BinaryQuadraticModel(dimod.BINARY)
    objective.add_variables_from((i, -float(gains[i])) for i in range(n))
    rows, cols = np.nonzero(np.triu(redundancy, 1))
    objective.add_quadratic_from(
        (int(i), int(j), float(redundancy[i, j])) for i, j in zip(rows, cols, strict=True)
    )
    cqm.set_objective(objective)
    items = [(i, 1) for i in range(n)]
    if k is not None:
        count = check_integer(k, "k", minimum=0)
        if count > n:
            raise InvalidProblem(f"k: is {count} but there are only {n} items; use 0 <= k <= {n}.")
        cqm.add_constraint_from_iterable(items, "==", count, "choose")
    if at_most is not None:
        limit = check_integer(at_most, "at_most", minimum=0)
        if limit > n:
            raise InvalidProblem(
                f"at_most: is {limit} but there are only {n} items; use 0 <= at_most <= {n} "
                "(or leave it out for no limit)."
            )
        if limit < n:
            cqm.add_constraint_from_iterable(items, "<=", limit, "choose_at_most")

    def interpret(sample: dict[Hashable, int]) -> SelectionSolution:
        chosen = [i for i in range(n) if sample[i] == 1]
        value = gains[chosen].sum() - np.triu(redundancy[np.ix_(chosen, chosen)], 1).sum()
        return SelectionSolution(chosen, float(value))

    return Problem.from_cqm(cqm, interpret=interpret, name="subset_selection")
