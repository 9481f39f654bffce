"""The fabric model: a networkx graph of GPUs, switches, CPUs and NICs, and its routes.

Every edge carries ``bandwidth`` (GB/s in each direction; links are full duplex) and
``latency`` (seconds). Nodes carry ``kind`` (``gpu``, ``nvswitch``, ``pci``, ``cpu``, ``nic``,
``switch``). GPU nodes also carry ``host``, ``dev`` (CUDA device index on the host), ``numa``
and ``domain`` (a list of group names from coarse to fine, e.g. ``[leaf, host]``: the
hierarchy METIS partitions along).

Switches that are parallel planes of one fabric (the 4 NVSwitch chips of a DGX H100, the 18
NVSwitch chips of an NVL72, the spines of a fat tree) share a ``plane_group``: routing treats
a group as one node and spreads a flow over its members in proportion to link bandwidth,
the way NVLink spreads traffic over all of a GPU's links and ECMP over spines.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from qnvlink.errors import InvalidFabric

__all__ = ["Fabric", "Route"]

NODE_KINDS = ("gpu", "nvswitch", "pci", "cpu", "nic", "switch")
# Routing distance of one link: the time a 1 MB message spends on it (seconds), so a path's
# length is what a lone 1 MB transfer would take store-and-forward. Fast links are short.
_MESSAGE_GB = 1e-3


@dataclass(frozen=True)
class Route:
    """A route between two GPUs: directed link ``resources`` each carrying ``fractions`` of it."""

    resources: np.ndarray  # int: 2 * edge index + direction
    fractions: np.ndarray  # float in (0, 1]: share of the flow on that resource
    latency: float  # seconds, sum along the path
    hops: int  # links along the path


def _finite_positive(value: object, field: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidFabric(f"{field}: expected a number, got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidFabric(f"{field}: is {value!r}; use a finite number {bound}.")
    return number


def _natural(value: object) -> tuple:
    """Sort key: node2 before node10 (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


class Fabric:
    """A GPU fabric: ``graph`` (networkx), ``gpus`` in device order, ``nics``, ``numa_nodes``."""

    def __init__(self, graph: nx.Graph, name: str = "fabric") -> None:
        if not isinstance(graph, nx.Graph) or graph.is_directed() or graph.is_multigraph():
            raise InvalidFabric(
                "graph: expected an undirected networkx.Graph (links are full duplex; merge "
                f"parallel links into one with the summed bandwidth), got {type(graph).__name__}."
            )
        for node, data in graph.nodes(data=True):
            kind = data.get("kind")
            group = data.get("plane_group")
            if group is not None and (isinstance(group, bool) or not isinstance(group, (str, int))):
                raise InvalidFabric(
                    f"nodes[{node!r}].plane_group: is {group!r}; use a string naming the group."
                )
            if kind not in NODE_KINDS:
                raise InvalidFabric(
                    f"nodes[{node!r}].kind: is {kind!r}; use one of {', '.join(NODE_KINDS)}."
                )
        for u, v, data in graph.edges(data=True):
            if u == v:
                raise InvalidFabric(f"links[{u!r}-{v!r}]: a self-loop; remove it.")
            data["bandwidth"] = _finite_positive(
                data.get("bandwidth"), f"links[{u!r}-{v!r}].bandwidth"
            )
            data["latency"] = _finite_positive(
                data.get("latency", 0.0), f"links[{u!r}-{v!r}].latency", allow_zero=True
            )
        gpus = [n for n, d in graph.nodes(data=True) if d["kind"] == "gpu"]
        if not gpus:
            raise InvalidFabric("nodes: no node has kind 'gpu'; a fabric needs at least one GPU.")
        if not nx.is_connected(graph):
            parts = sorted(nx.connected_components(graph), key=len, reverse=True)
            lonely = sorted(map(str, parts[1]))[:3]
            raise InvalidFabric(
                f"links: the fabric is disconnected ({len(parts)} components; e.g. {lonely} "
                "reach nothing else); add the missing links or drop the isolated nodes."
            )
        self.graph = graph
        self.name = str(name)
        # device order: by (host, dev) when given, else insertion order
        order = {n: i for i, n in enumerate(gpus)}
        self.gpus: list[Hashable] = sorted(
            gpus,
            key=lambda n: (
                _natural(graph.nodes[n].get("host", "")),
                _natural(graph.nodes[n].get("dev", order[n])),
                order[n],
            ),
        )
        for i, g in enumerate(self.gpus):
            data = graph.nodes[g]
            data.setdefault("host", "host0")
            data.setdefault("dev", i)
            data.setdefault("domain", [str(data["host"])])
            data.setdefault("numa", None)
        self.gpu_index = {g: i for i, g in enumerate(self.gpus)}
        self.nics = [n for n, d in graph.nodes(data=True) if d["kind"] == "nic"]
        self.numa_nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == "cpu"]
        self.edges: list[tuple[Hashable, Hashable]] = list(graph.edges())
        self._edge_index = {}
        for k, (u, v) in enumerate(self.edges):
            self._edge_index[(u, v)] = 2 * k
            self._edge_index[(v, u)] = 2 * k + 1
        bw = np.array([graph.edges[e]["bandwidth"] for e in self.edges], dtype=float)
        self.capacity = np.repeat(bw * 1e9, 2)  # bytes/s per directed resource
        self._build_routing()

    # ------------------------------------------------------------------ routing

    def _build_routing(self) -> None:
        # Routing graph: plane groups collapse to one node; each GPU splits into a sending and
        # a receiving node with no edge between them, so no route transits a GPU.
        graph = self.graph
        rep: dict[Hashable, Hashable] = {}
        for n, d in graph.nodes(data=True):
            group = d.get("plane_group")
            rep[n] = ("plane", group) if group is not None else n
        vindex: dict[Hashable, int] = {}

        def vnode(node: Hashable, role: str) -> int:
            key = (role, node) if graph.nodes[node]["kind"] == "gpu" else rep[node]
            return vindex.setdefault(key, len(vindex))

        self._gpu_out = np.array([vnode(g, "out") for g in self.gpus], dtype=np.int64)
        self._gpu_in = np.array([vnode(g, "in") for g in self.gpus], dtype=np.int64)
        # virtual directed edge -> list of (directed resource, bandwidth, latency)
        members: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
        for u, v, d in graph.edges(data=True):
            for x, y in ((u, v), (v, u)):
                a, b = vnode(x, "out"), vnode(y, "in")
                if a != b:
                    members.setdefault((a, b), []).append(
                        (self._edge_index[(x, y)], d["bandwidth"], d["latency"])
                    )
        rows, cols, weights = [], [], []
        self._vedge: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, float]] = {}
        for (a, b), links in members.items():
            total = sum(bw for _, bw, _ in links)
            latency = float(np.mean([lat for _, _, lat in links]))
            res = np.array([r for r, _, _ in links], dtype=np.int64)
            frac = np.array([bw / total for _, bw, _ in links])
            self._vedge[(a, b)] = (res, frac, latency)
            rows.append(a)
            cols.append(b)
            weights.append(_MESSAGE_GB / total + latency + 1e-12)
        size = len(vindex)
        matrix = csr_matrix((weights, (rows, cols)), shape=(size, size))
        dist, pred = dijkstra(
            matrix, directed=True, indices=self._gpu_out, return_predecessors=True
        )
        self._pred = pred
        self.distance = dist[:, self._gpu_in]  # seconds for a 1 MB message, GPU x GPU
        np.fill_diagonal(self.distance, 0.0)
        if not np.isfinite(self.distance).all():
            i, j = np.argwhere(~np.isfinite(self.distance))[0]
            raise InvalidFabric(
                f"links: GPU {self.gpus[i]!r} cannot reach GPU {self.gpus[j]!r} without passing "
                "through another GPU; connect them through a switch, PCIe or CPU node."
            )
        self._routes: dict[tuple[int, int], Route] = {}

    def route(self, src: int, dst: int) -> Route:
        """The route from GPU index ``src`` to GPU index ``dst`` (device order)."""
        key = (src, dst)
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        pred = self._pred[src]
        path = [int(self._gpu_in[dst])]
        start = int(self._gpu_out[src])
        if src == dst:
            path = [start]
        while path[-1] != start:
            path.append(int(pred[path[-1]]))
        path.reverse()
        res, frac, latency = [], [], 0.0
        for a, b in itertools.pairwise(path):
            r, f, lat = self._vedge[(a, b)]
            res.append(r)
            frac.append(f)
            latency += lat
        route = Route(
            resources=np.concatenate(res) if res else np.zeros(0, dtype=np.int64),
            fractions=np.concatenate(frac) if frac else np.zeros(0),
            latency=latency,
            hops=len(path) - 1,
        )
        self._routes[key] = route
        return route

    # ------------------------------------------------------------------ views

    @property
    def num_gpus(self) -> int:
        return len(self.gpus)

    def gpu_attr(self, name: str) -> list[Any]:
        """An attribute of every GPU, in device order."""
        return [self.graph.nodes[g].get(name) for g in self.gpus]

    def hosts(self) -> dict[str, list[int]]:
        """Host name -> GPU indices on it (device order)."""
        out: dict[str, list[int]] = {}
        for i, host in enumerate(self.gpu_attr("host")):
            out.setdefault(str(host), []).append(i)
        return out

    def injection_bandwidth(self) -> np.ndarray:
        """Bytes/s each GPU can push into the fabric at once (sum of its links)."""
        return np.array(
            [
                sum(d["bandwidth"] for _, _, d in self.graph.edges(g, data=True)) * 1e9
                for g in self.gpus
            ]
        )

    def resource_name(self, resource: int) -> str:
        u, v = self.edges[resource // 2]
        if resource % 2:
            u, v = v, u
        return f"{u}->{v}"

    def with_link(
        self, u: Hashable, v: Hashable, *, down: bool = False, factor: float | None = None
    ) -> Fabric:
        """A copy with link ``u-v`` removed (``down``) or its bandwidth times ``factor``."""
        if not self.graph.has_edge(u, v):
            raise InvalidFabric(f"link: {u!r}-{v!r} is not a link of fabric {self.name!r}.")
        if down == (factor is not None):
            raise InvalidFabric("link: pass exactly one of down=True or factor=<0..1>.")
        graph = self.graph.copy()
        if down:
            graph.remove_edge(u, v)
            if not nx.is_connected(graph):
                raise InvalidFabric(
                    f"link: taking {u!r}-{v!r} down disconnects the fabric; nothing can be "
                    "planned around it (mark it slow with factor= instead)."
                )
        else:
            scale = _finite_positive(factor, "factor")
            if scale > 1:
                raise InvalidFabric(
                    f"factor: is {factor!r}; a degraded link keeps 0 < factor <= 1."
                )
            graph.edges[u, v]["bandwidth"] *= scale
        return Fabric(graph, name=f"{self.name}-degraded")

    def __repr__(self) -> str:
        return (
            f"Fabric({self.name!r}, gpus={len(self.gpus)}, nodes={self.graph.number_of_nodes()}, "
            f"links={self.graph.number_of_edges()})"
        )
