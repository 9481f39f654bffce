"""Link scheduling: colour the transfer graph's edges so no GPU port is used twice in a round.

- ``bipartite`` (König): each transfer is an edge from a GPU's send port to another GPU's
  receive port (links are full duplex), a bipartite graph, so Delta rounds always suffice
  (Delta = the largest number of sends or receives of one rank). Edges are coloured one by
  one; when the free colours at the two ends differ, an alternating path is flipped
  (König 1916; the textbook O(E V) construction).
- ``misra-gries``: each pair that talks (either direction) is one undirected exchange; any
  simple graph takes at most Delta + 1 rounds (Vizing), and Misra & Gries (1992) build such
  a colouring with fans and cd-path inversions.
- ``qubo``: the colouring of the line graph as qcore's colouring BQM
  (``qcore.problems.graph_coloring``), solved by any qcore solver (``exact``, ``qaoa``, ...)
  with Delta colours, then Delta + 1 if that fails; tiny cases only.

networkx has no edge colouring, so the two classical algorithms are written here.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from qnvlink.errors import UnknownMethod
from qnvlink.traffic import check_traffic

__all__ = [
    "SCHEDULERS",
    "Schedule",
    "bipartite_edge_colouring",
    "misra_gries",
    "schedule_rounds",
]

SCHEDULERS = ("bipartite", "misra-gries", "qubo")
QUBO_MAX_VARIABLES = 64


@dataclass
class Schedule:
    """Rounds of transfers ``(src, dst)``; ``delta`` is the lower bound on the round count."""

    method: str
    rounds: list[list[tuple[int, int]]]
    delta: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_rounds(self) -> int:
        return len(self.rounds)

    def to_dict(self, traffic: np.ndarray | None = None) -> dict[str, Any]:
        rounds = []
        for k, transfers in enumerate(self.rounds):
            items = []
            for a, b in transfers:
                item: dict[str, Any] = {"src": a, "dst": b}
                if traffic is not None:
                    item["bytes"] = float(traffic[a, b]) + (
                        float(traffic[b, a]) if self.method != "bipartite" else 0.0
                    )
                items.append(item)
            rounds.append({"round": k, "transfers": items})
        return {
            "method": self.method,
            "rounds": rounds,
            "num_rounds": self.num_rounds,
            "delta": self.delta,
            "info": self.info,
        }


def _set(at: list[dict[int, int]], u: int, v: int, c: int) -> None:
    at[u][c] = v
    at[v][c] = u


def _unset(at: list[dict[int, int]], u: int, v: int, c: int) -> None:
    del at[u][c]
    del at[v][c]


def _free(at: dict[int, int], palette: int) -> int:
    for c in range(palette):
        if c not in at:
            return c
    raise AssertionError("no free colour: palette too small")


def _flip_path(at: list[dict[int, int]], start: int, first: int, second: int) -> None:
    """Swap colours ``first``/``second`` along the path from ``start`` whose edges alternate."""
    path = []
    x, colour = start, first
    seen = set()
    while colour in at[x]:
        y = at[x][colour]
        key = (min(x, y), max(x, y), colour)
        if key in seen:  # a closed cycle cannot start at a vertex missing `second`; guard
            break
        seen.add(key)
        path.append((x, y, colour))
        x, colour = y, (second if colour == first else first)
    for a, b, c in path:
        _unset(at, a, b, c)
    for a, b, c in path:
        _set(at, a, b, second if c == first else first)


def bipartite_edge_colouring(edges: list[tuple[int, int]], left: int, right: int) -> list[int]:
    """Colours in ``range(Delta)`` for a bipartite simple graph (``u < left``, ``v < right``)."""
    at: list[dict[int, int]] = [{} for _ in range(left + right)]
    degree = np.zeros(left + right, dtype=int)
    for u, v in edges:
        degree[u] += 1
        degree[left + v] += 1
    palette = int(degree.max()) if edges else 0
    for u, v in edges:
        a, b = u, left + v
        ca, cb = _free(at[a], palette), _free(at[b], palette)
        if ca not in at[b]:
            _set(at, a, b, ca)
            continue
        # ca is used at b: flip the ca/cb path from b; in a bipartite graph it never reaches a
        _flip_path(at, b, ca, cb)
        _set(at, a, b, ca)
    return [next(c for c, w in at[u].items() if w == left + v) for u, v in edges]


def misra_gries(edges: list[tuple[int, int]], n: int) -> list[int]:
    """Colours in ``range(Delta + 1)`` for a simple undirected graph on ``0..n-1``."""
    at: list[dict[int, int]] = [{} for _ in range(n)]
    degree = np.zeros(n, dtype=int)
    for u, v in edges:
        degree[u] += 1
        degree[v] += 1
    palette = int(degree.max()) + 1 if edges else 0

    def colour_of(x: int, y: int) -> int | None:
        for c, w in at[x].items():
            if w == y:
                return c
        return None

    for u, v in edges:
        fan = [v]
        in_fan = {v}
        while True:
            c = _free(at[fan[-1]], palette)
            w = at[u].get(c)
            if w is None or w in in_fan:
                break
            fan.append(w)
            in_fan.add(w)
        c = _free(at[u], palette)
        d = _free(at[fan[-1]], palette)
        if c != d:
            _flip_path(at, u, d, c)  # afterwards d is free at u
        # the first fan vertex where d is free and whose prefix is still a fan (exists by
        # Misra & Gries' argument; checked, not assumed)
        end = None
        for i, w in enumerate(fan):
            if i > 0:
                cw = colour_of(u, w)
                if cw is None or cw in at[fan[i - 1]]:
                    break
            if d not in at[w]:
                end = i
                break
        if end is None or d in at[u]:
            raise AssertionError("Misra-Gries invariant broken; please report this graph")
        # rotate: edge (u, fan[j]) takes the colour of (u, fan[j + 1]) for j < end
        shifted = [colour_of(u, fan[j + 1]) for j in range(end)]
        for j in range(1, end + 1):
            cj = colour_of(u, fan[j])
            assert cj is not None
            _unset(at, u, fan[j], cj)
        for j in range(end):
            col = shifted[j]
            assert col is not None
            _set(at, u, fan[j], col)
        _set(at, u, fan[end], d)
    return [colour_of(u, v) for u, v in edges]  # type: ignore[misc]


def _transfers(traffic: np.ndarray) -> list[tuple[int, int]]:
    src, dst = np.nonzero(traffic)
    return list(zip(src.tolist(), dst.tolist(), strict=True))


def _exchanges(traffic: np.ndarray) -> list[tuple[int, int]]:
    both = (traffic + traffic.T) > 0
    src, dst = np.nonzero(np.triu(both, 1))
    return list(zip(src.tolist(), dst.tolist(), strict=True))


def _group(edges: list[tuple[int, int]], colours: list[int]) -> list[list[tuple[int, int]]]:
    count = max(colours) + 1 if colours else 0
    rounds: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    for edge, c in zip(edges, colours, strict=True):
        rounds[c].append(edge)
    return [r for r in rounds if r]


def schedule_rounds(
    traffic: object,
    method: str = "bipartite",
    *,
    solver: str = "exact",
    seed: int = 0,
    time_limit: float | None = None,
) -> Schedule:
    """Split the job's transfers into rounds in which every GPU port is used at most once."""
    matrix = check_traffic(traffic)
    n = matrix.shape[0]
    if method == "bipartite":
        edges = _transfers(matrix)
        out_deg = np.count_nonzero(matrix, axis=1)
        in_deg = np.count_nonzero(matrix, axis=0)
        delta = int(max(out_deg.max(), in_deg.max()))
        colours = bipartite_edge_colouring(edges, n, n)
        return Schedule(method, _group(edges, colours), delta)
    edges = _exchanges(matrix)
    degree = np.zeros(n, dtype=int)
    for u, v in edges:
        degree[u] += 1
        degree[v] += 1
    delta = int(degree.max()) if edges else 0
    if method == "misra-gries":
        return Schedule(method, _group(edges, misra_gries(edges, n)), delta)
    if method == "qubo":
        return _qubo_schedule(edges, delta, solver, seed, time_limit)
    raise UnknownMethod(f"method: is {method!r}; use one of {', '.join(SCHEDULERS)}.")


def _qubo_schedule(
    edges: list[tuple[int, int]],
    delta: int,
    solver: str,
    seed: int,
    time_limit: float | None,
) -> Schedule:
    import qcore
    from qcore.problems import graph_coloring

    if not edges:
        return Schedule("qubo", [], 0)
    line = nx.Graph()
    line.add_nodes_from(range(len(edges)))
    ends: dict[int, list[int]] = {}
    for i, (u, v) in enumerate(edges):
        for x in (u, v):
            ends.setdefault(x, []).append(i)
    for members in ends.values():
        for i in members:
            for j in members:
                if i < j:
                    line.add_edge(i, j)
    tried: list[dict[str, Hashable]] = []
    for k in (delta, delta + 1):
        k = min(k, len(edges))
        if len(edges) * k > QUBO_MAX_VARIABLES:
            raise UnknownMethod(
                f"method: 'qubo' needs {len(edges) * k} variables ({len(edges)} exchanges x "
                f"{k} colours); it is for at most {QUBO_MAX_VARIABLES}; use 'misra-gries'."
            )
        problem = graph_coloring(line, k)
        result = qcore.solve(problem.bqm, solver=solver, seed=seed, time_limit=time_limit)
        solution = problem.decode(result).solution
        tried.append({"colours": k, "proper": solution.proper, "solver": result.solver})
        if solution.proper:
            colours = [solution.color[i] for i in range(len(edges))]
            return Schedule("qubo", _group(edges, colours), delta, {"attempts": tried})
    # no proper colouring found by the solver: say so, fall back to Misra-Gries
    colours = misra_gries(edges, 1 + max(max(e) for e in edges))
    info = {"attempts": tried, "fallback": "misra-gries"}
    return Schedule("qubo", _group(edges, colours), delta, info)
