"""The flow-level simulator against hand-computed max-min fair answers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import qnvlink
from qnvlink.metrics import evaluate
from qnvlink.simulate import build_flows, simulate


def _star(bandwidths: dict[str, float]) -> qnvlink.Fabric:
    """GPUs around one switch; link GPU-switch with the given GB/s, no latency."""
    graph = nx.Graph()
    graph.add_node("sw", kind="switch")
    for g, bw in bandwidths.items():
        graph.add_node(g, kind="gpu", host="h", dev=int(g[1:]))
        graph.add_edge(g, "sw", bandwidth=bw, latency=0.0)
    return qnvlink.Fabric(graph)


def test_one_flow_takes_bytes_over_bandwidth() -> None:
    fabric = _star({"g0": 10.0, "g1": 10.0})
    t = np.array([[0, 5e9], [0, 0]])
    assert evaluate(fabric, t, np.array([0, 1])).sim_time_s == pytest.approx(0.5)


def test_two_flows_into_one_gpu_share_its_link() -> None:
    fabric = _star({"g0": 10.0, "g1": 10.0, "g2": 10.0})
    t = np.zeros((3, 3))
    t[0, 2] = t[1, 2] = 5e9
    assert evaluate(fabric, t, np.arange(3)).sim_time_s == pytest.approx(1.0)
    t[1, 2] = 2.5e9  # the smaller finishes at 0.5 s, then the other gets the whole link
    assert evaluate(fabric, t, np.arange(3)).sim_time_s == pytest.approx(0.75)


def test_max_min_gives_the_unbottlenecked_flow_the_rest() -> None:
    # g0 -> g2 and g1 -> g2 share g2's 10 GB/s; g1 -> g3 also leaves g1 (4 GB/s uplink)
    fabric = _star({"g0": 10.0, "g1": 4.0, "g2": 10.0, "g3": 10.0})
    t = np.zeros((4, 4))
    t[0, 2] = t[1, 2] = t[1, 3] = 1e9
    flows = build_flows(fabric, t, np.arange(4))
    result = simulate(fabric, flows)
    # g1's 4 GB/s is split 2/2; g0 -> g2 gets 8 GB/s; after 0.125 s it is done...
    finish = dict(
        zip(zip(flows.src.tolist(), flows.dst.tolist(), strict=True), result.finish_s, strict=True)
    )
    assert finish[(0, 2)] == pytest.approx(1 / 8)
    assert finish[(1, 2)] == pytest.approx(0.5) and finish[(1, 3)] == pytest.approx(0.5)


def test_latency_is_added_and_bounds_hold() -> None:
    fabric = qnvlink.dgx_h100()
    t = qnvlink.all_to_all(8, 8e9)
    metrics = evaluate(fabric, t, np.arange(8))
    assert metrics.sim_time_s >= metrics.max_congestion_s - 1e-12
    assert metrics.max_congestion_s >= metrics.lower_bound_s - 1e-12
    # 7 GB out of each GPU over 450 GB/s of NVLink (plus 2 hops of 0.5 us)
    assert metrics.sim_time_s == pytest.approx(7e9 / 450e9 + 1e-6, rel=1e-6)


def test_hop_bytes_counts_links() -> None:
    fabric = qnvlink.cluster("dgx-h100", 2)
    t = np.zeros((16, 16))
    t[0, 8] = 1.0  # rail 0 to rail 0: gpu->nic->leaf->nic->gpu
    assert evaluate(fabric, t, np.arange(16)).hop_bytes == pytest.approx(4.0)
