"""Fabric builders carry the published figures; routes, degraded links and bad fabrics."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import qnvlink
from qnvlink import InvalidFabric


def _nvlink_out(fabric: qnvlink.Fabric, gpu: int) -> float:
    g = fabric.gpus[gpu]
    return sum(
        d["bandwidth"] for _, _, d in fabric.graph.edges(g, data=True) if d["type"] == "nvlink"
    )


def test_dgx_h100_has_18_nvlink4_links_split_5_5_4_4_over_4_nvswitch() -> None:
    fabric = qnvlink.dgx_h100()
    assert fabric.num_gpus == 8 and len(fabric.nics) == 8 and len(fabric.numa_nodes) == 2
    g = fabric.gpus[0]
    counts = sorted(
        d["count"] for _, m, d in fabric.graph.edges(g, data=True) if d["type"] == "nvlink"
    )
    assert counts == [4, 4, 5, 5]
    assert _nvlink_out(fabric, 0) * 2 == pytest.approx(900.0)  # 900 GB/s bidirectional


def test_dgx_a100_and_nvl72_published_bandwidths() -> None:
    a100 = qnvlink.dgx_a100()
    assert _nvlink_out(a100, 3) * 2 == pytest.approx(600.0)
    switches = [n for n, d in a100.graph.nodes(data=True) if d["kind"] == "nvswitch"]
    assert len(switches) == 6
    rack = qnvlink.gb200_nvl72()
    assert rack.num_gpus == 72
    chips = [n for n, d in rack.graph.nodes(data=True) if d["kind"] == "nvswitch"]
    assert len(chips) == 18  # 9 switch trays x 2
    assert _nvlink_out(rack, 71) * 2 == pytest.approx(1800.0)
    assert len({rack.graph.nodes[g]["host"] for g in rack.gpus}) == 18  # compute trays


def test_route_inside_a_box_spreads_over_the_switch_planes() -> None:
    fabric = qnvlink.dgx_h100()
    route = fabric.route(0, 5)
    assert route.hops == 2
    # each hop's fractions sum to one: 5/18, 5/18, 4/18, 4/18
    assert route.fractions.sum() == pytest.approx(2.0)
    assert sorted(np.round(route.fractions[:4] * 18).tolist()) == [4, 4, 5, 5]


def test_partial_nvlink_pairs_without_a_link_go_through_pcie() -> None:
    fabric = qnvlink.partial_nvlink()
    assert fabric.route(0, 3).hops == 1  # NV2
    linked = fabric.route(0, 5)  # no NVLink between 0 and 5: PCIe or two NVLink hops
    assert fabric.distance[0, 5] > fabric.distance[0, 3]
    assert linked.hops >= 2


def test_rail_cluster_uses_each_gpus_own_nic_and_rail() -> None:
    fabric = qnvlink.cluster("dgx-h100", 2, topology="rail")
    assert fabric.num_gpus == 16
    route = fabric.route(3, 8 + 3)
    names = [fabric.resource_name(r) for r in route.resources]
    assert names[0] == "node0/gpu3->node0/nic3"
    assert "node0/nic3->ib/rail3" in names and "ib/rail3->node1/nic3" in names
    assert not any("spine" in n for n in names)  # same rail: one leaf hop


def test_fat_tree_domains_give_the_hierarchy() -> None:
    fabric = qnvlink.cluster("dgx-h100", 8, topology="fat-tree", nodes_per_leaf=2)
    domains = fabric.gpu_attr("domain")
    assert domains[0] == ["ib/leaf0", "node0"] and domains[-1] == ["ib/leaf3", "node7"]


def test_device_order_is_natural() -> None:
    fabric = qnvlink.cluster("dgx-h100", 12)
    hosts = [fabric.graph.nodes[g]["host"] for g in fabric.gpus[::8]]
    assert hosts == [f"node{i}" for i in range(12)]


def test_disconnected_fabric_is_refused() -> None:
    graph = nx.Graph()
    graph.add_node("a", kind="gpu")
    graph.add_node("b", kind="gpu")
    with pytest.raises(InvalidFabric, match="disconnected"):
        qnvlink.Fabric(graph)


@pytest.mark.parametrize(
    ("bandwidth", "match"),
    [(-1.0, "bandwidth"), (float("nan"), "bandwidth"), (0, "bandwidth"), ("fast", "bandwidth")],
)
def test_bad_link_bandwidth_is_named(bandwidth: object, match: str) -> None:
    graph = nx.Graph()
    graph.add_node("a", kind="gpu")
    graph.add_node("b", kind="gpu")
    graph.add_edge("a", "b", bandwidth=bandwidth)
    with pytest.raises(InvalidFabric, match=match):
        qnvlink.Fabric(graph)


def test_no_gpu_and_unknown_kind_are_refused() -> None:
    graph = nx.Graph()
    graph.add_node("a", kind="cpu")
    with pytest.raises(InvalidFabric, match="no node has kind 'gpu'"):
        qnvlink.Fabric(graph)
    graph.add_node("b", kind="toaster")
    with pytest.raises(InvalidFabric, match=r"nodes\['b'\]\.kind"):
        qnvlink.Fabric(graph)


def test_link_down_and_slow() -> None:
    fabric = qnvlink.dgx_h100()
    g, s = fabric.gpus[0], "node0/nvswitch0"
    slow = fabric.with_link(g, s, factor=0.5)
    assert slow.graph.edges[g, s]["bandwidth"] == pytest.approx(62.5)
    down = fabric.with_link(g, s, down=True)
    assert not down.graph.has_edge(g, s)
    assert down.route(0, 1).fractions[:3].sum() == pytest.approx(1.0)  # 3 planes left
    with pytest.raises(InvalidFabric, match="disconnects"):
        fabric.with_link(g, "node0/nic0", down=True)
    with pytest.raises(InvalidFabric, match="not a link"):
        fabric.with_link(g, fabric.gpus[1], down=True)
    with pytest.raises(InvalidFabric, match="factor"):
        fabric.with_link(g, s, factor=2.0)


def test_build_by_name_and_bad_arguments() -> None:
    assert qnvlink.build("dgx-a100", nodes=2).num_gpus == 16
    with pytest.raises(InvalidFabric, match="builder"):
        qnvlink.build("dgx-9000")
    with pytest.raises(InvalidFabric, match="topology"):
        qnvlink.cluster("dgx-h100", 2, topology="torus")
    with pytest.raises(InvalidFabric, match="nodes"):
        qnvlink.cluster("dgx-h100", 0)
