"""Fabric builders with the vendors' published figures.

Bandwidths are GB/s in each direction (NVIDIA quotes NVLink totals bidirectionally: "900 GB/s"
for an H100 is 18 links x 25 GB/s x 2 directions). Latencies are order-of-magnitude figures
(sub-microsecond for NVLink and PCIe hops, about a microsecond per InfiniBand switch hop);
they matter only for tiny messages.

- :func:`dgx_a100`: 8 A100, NVLink3: 12 links per GPU (600 GB/s bidirectional), 2 to each of
  6 NVSwitch; PCIe Gen4 x16; 2 CPU sockets; one 200 Gb/s HDR NIC per GPU.
- :func:`dgx_h100`: 8 H100, NVLink4: 18 links per GPU (900 GB/s bidirectional) split 5/5/4/4
  over 4 NVSwitch; PCIe Gen5 x16; 2 CPU sockets; one 400 Gb/s NDR NIC per GPU.
- :func:`gb200_nvl72`: 18 compute trays x (2 Grace + 4 Blackwell, C2C 900 GB/s), 9 switch trays
  x 2 NVSwitch chips; each GPU has 18 NVLink5 links (1.8 TB/s bidirectional), one per chip.
- :func:`pcie_only`: 8 GPUs on 4 PCIe Gen4 switches under 2 CPU sockets, no NVLink.
- :func:`partial_nvlink`: the DGX-1 (V100) hybrid cube-mesh: 6 NVLink2 links per GPU, some
  pairs doubled, others not linked at all (they go through PCIe and the CPUs).
- :func:`cluster`: several of the above joined by InfiniBand, one NIC per GPU, either
  rail-optimised (NIC *i* of every node on leaf *i*) or a fat tree (nodes packed on leaves);
  leaves join through a group of spines (non-blocking unless ``oversubscription`` > 1).
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from qnvlink.errors import InvalidFabric
from qnvlink.fabric import Fabric

__all__ = [
    "BUILDERS",
    "build",
    "cluster",
    "dgx_a100",
    "dgx_h100",
    "gb200_nvl72",
    "partial_nvlink",
    "pcie_only",
]

NVLINK_LAT = 0.5e-6
PCIE_LAT = 0.7e-6
SYS_LAT = 1.0e-6
IB_LAT = 1.0e-6
PCIE_GEN3 = 16.0  # GB/s per direction, x16
PCIE_GEN4 = 32.0
PCIE_GEN5 = 64.0
INTER_SOCKET = 64.0  # UPI / xGMI between the two sockets, per direction (approximate)


class _Box:
    """Adds one host's nodes under a name prefix, with bus ids for NCCL XML export."""

    def __init__(self, graph: nx.Graph, host: str) -> None:
        self.graph = graph
        self.host = host
        self._bus = 0x10

    def node(self, name: str, kind: str, **attrs: object) -> str:
        full = f"{self.host}/{name}"
        if kind in ("gpu", "nic", "pci", "nvswitch"):
            attrs.setdefault("busid", f"0000:{self._bus:02x}:00.0")
            self._bus += 1
        self.graph.add_node(full, kind=kind, host=self.host, **attrs)
        return full

    def link(
        self, u: str, v: str, bandwidth: float, latency: float, kind: str, **a: object
    ) -> None:
        self.graph.add_edge(u, v, bandwidth=float(bandwidth), latency=latency, type=kind, **a)


def _sockets(box: _Box, cpu_arch: str = "x86_64") -> list[str]:
    cpus = [box.node(f"cpu{s}", "cpu", numaid=s, arch=cpu_arch) for s in range(2)]
    box.link(cpus[0], cpus[1], INTER_SOCKET, SYS_LAT, "sys")
    return cpus


def _gpus_on_pcie(
    box: _Box, cpus: list[str], count: int, pcie: float, nic_gbps: float | None, sm: int
) -> list[str]:
    """GPUs in pairs behind PCIe switches, half the switches per socket, a NIC beside each GPU."""
    gpus = []
    per_socket = count // 2
    for i in range(count):
        socket = i // per_socket
        if i % 2 == 0:
            switch = box.node(f"pcisw{i // 2}", "pci")
            box.link(switch, cpus[socket], pcie, PCIE_LAT, "pcie")
        gpu = box.node(f"gpu{i}", "gpu", dev=i, numa=cpus[socket], sm=sm)
        box.link(gpu, switch, pcie, PCIE_LAT, "pcie")
        gpus.append(gpu)
        if nic_gbps:
            # the GPU's own NIC sits beside it on the PCIe switch; modelled as one PCIe link
            # from the GPU so each GPU uses its own rail, as NCCL does
            nic = box.node(
                f"nic{i}", "nic", dev=i, speed_mbps=int(nic_gbps * 1000), numa=cpus[socket]
            )
            box.link(nic, gpu, pcie, PCIE_LAT, "pcie")
    return gpus


def _nvswitch_box(
    graph: nx.Graph,
    host: str,
    links_per_switch: list[int],
    link_gbs: float,
    pcie: float,
    nic_gbps: float,
    sm: int,
) -> None:
    box = _Box(graph, host)
    cpus = _sockets(box)
    gpus = _gpus_on_pcie(box, cpus, 8, pcie, nic_gbps, sm)
    for s, count in enumerate(links_per_switch):
        switch = box.node(f"nvswitch{s}", "nvswitch", plane_group=f"{host}/nvswitch")
        for gpu in gpus:
            box.link(gpu, switch, count * link_gbs, NVLINK_LAT, "nvlink", count=count)


def dgx_a100(host: str = "node0", *, nic_gbps: float = 200.0) -> Fabric:
    """One DGX A100 (8 GPUs, 6 NVSwitch, 2 NVLink3 links from each GPU to each switch)."""
    graph = nx.Graph()
    _nvswitch_box(graph, host, [2] * 6, 25.0, PCIE_GEN4, nic_gbps, 80)
    _set_domain(graph, lambda d: [d["host"]])
    return Fabric(graph, name="dgx-a100")


def dgx_h100(host: str = "node0", *, nic_gbps: float = 400.0) -> Fabric:
    """One DGX H100 (8 GPUs, 18 NVLink4 links each, 5/5/4/4 over 4 NVSwitch)."""
    graph = nx.Graph()
    _nvswitch_box(graph, host, [5, 5, 4, 4], 25.0, PCIE_GEN5, nic_gbps, 90)
    _set_domain(graph, lambda d: [d["host"]])
    return Fabric(graph, name="dgx-h100")


def pcie_only(host: str = "node0", *, gpus: int = 8, nic_gbps: float = 200.0) -> Fabric:
    """A PCIe-only server: GPUs in pairs under PCIe Gen4 switches, two CPU sockets."""
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 2 or gpus % 4:
        raise InvalidFabric(f"gpus: is {gpus!r}; use a multiple of 4 (pairs on each socket).")
    graph = nx.Graph()
    box = _Box(graph, host)
    _gpus_on_pcie(box, _sockets(box), gpus, PCIE_GEN4, nic_gbps, 89)
    _set_domain(graph, lambda d: [d["host"]])
    return Fabric(graph, name="pcie-only")


# nvidia-smi topo -m of a DGX-1V: NV1 / NV2 (one or two NVLink2 links, 25 GB/s each way)
_DGX1_NVLINKS = {
    (0, 1): 1, (0, 2): 1, (0, 3): 2, (0, 4): 2,
    (1, 2): 2, (1, 3): 1, (1, 5): 2,
    (2, 3): 2, (2, 6): 1,
    (3, 7): 1,
    (4, 5): 1, (4, 6): 1, (4, 7): 2,
    (5, 6): 2, (5, 7): 1,
    (6, 7): 2,
}  # fmt: skip


def partial_nvlink(host: str = "node0", *, nic_gbps: float = 100.0) -> Fabric:
    """DGX-1 (V100) hybrid cube-mesh: partial NVLink2, PCIe Gen3 and 2 sockets for the rest."""
    graph = nx.Graph()
    box = _Box(graph, host)
    gpus = _gpus_on_pcie(box, _sockets(box), 8, PCIE_GEN3, nic_gbps, 70)
    for (a, b), count in _DGX1_NVLINKS.items():
        box.link(gpus[a], gpus[b], 25.0 * count, NVLINK_LAT, "nvlink", count=count)
    _set_domain(graph, lambda d: [d["host"]])
    return Fabric(graph, name="partial-nvlink")


def _nvl72_rack(graph: nx.Graph, rack: str, nic_gbps: float) -> None:
    chips = []
    for t in range(9):
        for c in range(2):
            box = _Box(graph, f"{rack}/switchtray{t}")
            chips.append(box.node(f"nvswitch{c}", "nvswitch", plane_group=f"{rack}/nvswitch"))
    for tray in range(18):
        box = _Box(graph, f"{rack}/tray{tray}")
        cpus = [box.node(f"grace{s}", "cpu", numaid=s, arch="arm64") for s in range(2)]
        box.link(cpus[0], cpus[1], 450.0, SYS_LAT, "c2c")
        for i in range(4):
            gpu = box.node(f"gpu{i}", "gpu", dev=i, numa=cpus[i // 2], sm=100, rack=rack, tray=tray)
            box.link(gpu, cpus[i // 2], 450.0, PCIE_LAT, "c2c")  # NVLink-C2C 900 GB/s bidir.
            for chip in chips:
                box.link(gpu, chip, 50.0, NVLINK_LAT, "nvlink", count=1)
            if nic_gbps:
                nic = box.node(f"nic{i}", "nic", dev=i, speed_mbps=int(nic_gbps * 1000))
                box.link(nic, gpu, PCIE_GEN5, PCIE_LAT, "pcie")


def gb200_nvl72(rack: str = "rack0", *, nic_gbps: float = 400.0) -> Fabric:
    """One GB200 NVL72 rack: 72 GPUs on one NVLink5 domain of 18 NVSwitch chips."""
    graph = nx.Graph()
    _nvl72_rack(graph, rack, nic_gbps)
    _set_domain(graph, lambda d: [d["rack"], d["host"]])
    return Fabric(graph, name="gb200-nvl72")


def _set_domain(graph: nx.Graph, key: Callable[[dict], list]) -> None:
    for _, d in graph.nodes(data=True):
        if d["kind"] == "gpu":
            d["domain"] = [str(x) for x in key(d)]


NODE_BUILDERS = {"dgx-a100": 200.0, "dgx-h100": 400.0, "gb200-nvl72": 400.0, "pcie-only": 200.0}


def cluster(
    node: str = "dgx-h100",
    nodes: int = 4,
    *,
    topology: str = "rail",
    nic_gbps: float | None = None,
    spines: int = 4,
    nodes_per_leaf: int = 4,
    oversubscription: float = 1.0,
) -> Fabric:
    """``nodes`` boxes of kind ``node`` joined by InfiniBand (``rail`` or ``fat-tree``)."""
    if node not in NODE_BUILDERS:
        raise InvalidFabric(f"node: is {node!r}; use one of {', '.join(NODE_BUILDERS)}.")
    for value, field in ((nodes, "nodes"), (spines, "spines"), (nodes_per_leaf, "nodes_per_leaf")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidFabric(f"{field}: is {value!r}; use an integer >= 1.")
    if topology not in ("rail", "fat-tree"):
        raise InvalidFabric(f"topology: is {topology!r}; use 'rail' or 'fat-tree'.")
    if not isinstance(oversubscription, (int, float)) or not oversubscription >= 1:
        raise InvalidFabric(f"oversubscription: is {oversubscription!r}; use a number >= 1.")
    gbps = NODE_BUILDERS[node] if nic_gbps is None else float(nic_gbps)
    if not gbps > 0:
        raise InvalidFabric(f"nic_gbps: is {nic_gbps!r}; use a speed > 0 (Gb/s).")
    nic_gbs = gbps / 8.0
    graph = nx.Graph()
    for n in range(nodes):
        name = f"rack{n}" if node == "gb200-nvl72" else f"node{n}"
        if node == "gb200-nvl72":
            _nvl72_rack(graph, name, gbps)
        else:
            links = {
                "dgx-a100": ([2] * 6, PCIE_GEN4, 80),
                "dgx-h100": ([5, 5, 4, 4], PCIE_GEN5, 90),
            }
            if node == "pcie-only":
                box = _Box(graph, name)
                _gpus_on_pcie(box, _sockets(box), 8, PCIE_GEN4, gbps, 89)
            else:
                per_switch, pcie, sm = links[node]
                _nvswitch_box(graph, name, per_switch, 25.0, pcie, gbps, sm)
    nics = [n for n, d in graph.nodes(data=True) if d["kind"] == "nic"]
    spine_nodes = [f"ib/spine{s}" for s in range(spines)]
    for s in spine_nodes:
        graph.add_node(s, kind="switch", plane_group="ib/spine")
    leaves: dict[str, list[str]] = {}
    for nic in nics:
        d = graph.nodes[nic]
        unit = d["host"].split("/")[0]  # node or rack
        index = int(unit.removeprefix("rack").removeprefix("node"))
        leaf = f"ib/rail{d['dev']}" if topology == "rail" else f"ib/leaf{index // nodes_per_leaf}"
        leaves.setdefault(leaf, []).append(nic)
        graph.add_node(leaf, kind="switch")
        graph.add_edge(nic, leaf, bandwidth=nic_gbs, latency=IB_LAT, type="ib")
    for leaf, members in leaves.items():
        uplink = len(members) * nic_gbs / oversubscription / spines
        for s in spine_nodes:
            graph.add_edge(leaf, s, bandwidth=uplink, latency=IB_LAT, type="ib")
    leaf_of_host: dict[str, str] = {}
    for leaf, members in leaves.items():
        for nic in members:
            leaf_of_host.setdefault(graph.nodes[nic]["host"].split("/")[0], leaf)
    if node == "gb200-nvl72":
        _set_domain(graph, lambda d: [d["rack"], d["host"]])
    elif topology == "fat-tree":
        _set_domain(graph, lambda d: [leaf_of_host.get(d["host"], "ib"), d["host"]])
    else:
        _set_domain(graph, lambda d: [d["host"]])
    return Fabric(graph, name=f"{nodes}x{node}-{topology}")


BUILDERS: dict[str, Callable[..., Fabric]] = {
    "dgx-a100": dgx_a100,
    "dgx-h100": dgx_h100,
    "gb200-nvl72": gb200_nvl72,
    "pcie-only": pcie_only,
    "partial-nvlink": partial_nvlink,
}


def build(name: str, nodes: int = 1, topology: str = "rail") -> Fabric:
    """A fabric by builder name; ``nodes > 1`` joins that many with InfiniBand (``topology``)."""
    if name not in BUILDERS:
        raise InvalidFabric(f"builder: is {name!r}; use one of {', '.join(BUILDERS)}.")
    if nodes == 1:
        return BUILDERS[name]()
    return cluster(name, nodes, topology=topology)
