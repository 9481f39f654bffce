"""Mapping methods: valid placements, exact is the floor on tiny cases, QUBO through qcore."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qnvlink
from qnvlink import TooManyRanks, UnknownMethod


@pytest.mark.parametrize("method", ["identity", "greedy", "metis", "local", "best"])
def test_every_method_gives_a_placement(method: str) -> None:
    fabric = qnvlink.cluster("dgx-h100", 2, topology="fat-tree")
    traffic = qnvlink.parallel_3d(2, 4, 2, order="pp,dp,tp")
    plan = qnvlink.map_ranks(fabric, traffic, method, seed=1)
    assert len(set(plan.mapping.tolist())) == 16
    assert plan.metrics.sim_time_s >= plan.metrics.lower_bound_s
    assert len(plan.gpus) == 16 and plan.to_dict()["mapping"][0]["rank"] == 0


def test_fewer_ranks_than_gpus() -> None:
    fabric = qnvlink.cluster("dgx-h100", 2)
    plan = qnvlink.map_ranks(fabric, qnvlink.ring_allreduce(8), "metis")
    hosts = {fabric.graph.nodes[g]["host"] for g in plan.gpus}
    assert len(hosts) == 1  # a ring of 8 fits in one box


def test_structured_job_beats_scrambled_identity() -> None:
    fabric = qnvlink.cluster("dgx-h100", 4)
    traffic = qnvlink.parallel_3d(2, 8, 2, tp_bytes=4e9, dp_bytes=1e9, order="pp,dp,tp")
    identity = qnvlink.map_ranks(fabric, traffic, "identity")
    metis = qnvlink.map_ranks(fabric, traffic, "metis")
    best = qnvlink.map_ranks(fabric, traffic, "best")
    assert metis.metrics.sim_time_s < 0.5 * identity.metrics.sim_time_s
    assert best.metrics.sim_time_s <= min(identity.metrics.sim_time_s, metis.metrics.sim_time_s)


def test_local_search_never_worsens_its_start() -> None:
    fabric = qnvlink.partial_nvlink()
    traffic = qnvlink.halo((2, 4), 1e9)
    rng = np.random.default_rng(3)
    start = rng.permutation(8)
    base = qnvlink.map_ranks(fabric, traffic, "identity")
    plan = qnvlink.map_ranks(fabric, traffic, "local", initial=start.tolist())
    start_cost = plan.info["local_start_cost"]
    assert plan.info["objective"] <= start_cost + 1e-12
    assert plan.metrics.hop_time_s <= base.metrics.hop_time_s * 1.5


@pytest.mark.parametrize(
    "traffic", [qnvlink.ring_allreduce(5, 1e9), qnvlink.tree_allreduce(6, 1e9)]
)
def test_exact_is_a_floor_for_every_method_on_tiny_cases(traffic: np.ndarray) -> None:
    fabric = qnvlink.partial_nvlink()
    exact = qnvlink.map_ranks(fabric, traffic, "exact")
    for method in ("identity", "greedy", "metis", "local"):
        plan = qnvlink.map_ranks(fabric, traffic, method)
        assert plan.info["objective"] >= exact.info["objective"] - 1e-9


def test_qubo_through_qcore_matches_exact_on_a_tiny_case() -> None:
    fabric = qnvlink.partial_nvlink()
    traffic = np.zeros((3, 3))
    traffic[0, 1] = traffic[1, 2] = 1e9
    # 3 ranks x 8 GPUs = 24 variables + slack: qcore's tabu with a short budget
    exact = qnvlink.map_ranks(fabric, traffic, "exact")
    plan = qnvlink.map_ranks(fabric, traffic, "qubo", solver="tabu", time_limit=1.0, seed=0)
    assert plan.info["solver"] == "tabu" and plan.info["variables"] >= 24
    assert not plan.info["repaired"]
    assert plan.info["objective"] == pytest.approx(exact.info["objective"], rel=1e-9)


def test_too_many_ranks_and_unknown_method() -> None:
    with pytest.raises(TooManyRanks, match=r"9 ranks.*8 GPUs"):
        qnvlink.map_ranks(qnvlink.dgx_h100(), qnvlink.ring_allreduce(9), "greedy")
    with pytest.raises(UnknownMethod, match="method"):
        qnvlink.map_ranks(qnvlink.dgx_h100(), qnvlink.ring_allreduce(8), "magic")
    with pytest.raises(UnknownMethod, match="exact"):
        qnvlink.map_ranks(qnvlink.cluster("dgx-h100", 2), qnvlink.ring_allreduce(16), "exact")
    with pytest.raises(UnknownMethod, match="qubo"):
        qnvlink.map_ranks(qnvlink.cluster("dgx-h100", 4), qnvlink.ring_allreduce(32), "qubo")


def test_bad_initial_is_named() -> None:
    fabric = qnvlink.dgx_h100()
    with pytest.raises(qnvlink.InvalidTraffic, match="share a GPU"):
        qnvlink.map_ranks(fabric, qnvlink.ring_allreduce(2), "local", initial=[0, 0])
    with pytest.raises(qnvlink.InvalidTraffic, match=r"initial\[1\]"):
        qnvlink.map_ranks(fabric, qnvlink.ring_allreduce(2), "local", initial=[0, "nope"])


def test_remap_around_a_slow_link_moves_ranks_off_it() -> None:
    fabric = qnvlink.cluster("dgx-h100", 2)
    traffic = qnvlink.parallel_3d(1, 4, 3, tp_bytes=4e9, dp_bytes=1e9)  # 12 ranks, 16 GPUs
    plan = qnvlink.map_ranks(fabric, traffic, "best")
    # the busiest link becomes 10x slower; idle GPUs give the planner somewhere to go
    busiest = plan.metrics.busiest_link.split("->")
    slow = fabric.with_link(busiest[0], busiest[1], factor=0.1)
    stale = qnvlink.evaluate(slow, traffic, plan.mapping)
    again = qnvlink.remap(plan, slow)
    assert again.metrics.sim_time_s < stale.sim_time_s
    assert again.info["moved"] >= 1


@pytest.mark.parametrize("value", [-1, 0, float("nan"), True, "x"])
def test_bad_time_limit_is_named(value: object) -> None:
    with pytest.raises(qnvlink.InvalidTraffic, match="time_limit"):
        qnvlink.map_ranks(qnvlink.dgx_h100(), qnvlink.ring_allreduce(4), "local", time_limit=value)


FABRICS = {
    "h100": qnvlink.dgx_h100(),
    "pcie": qnvlink.pcie_only(),
    "dgx1": qnvlink.partial_nvlink(),
}


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(sorted(FABRICS)),
    st.integers(1, 8),
    st.floats(0.0, 1.0),
    st.sampled_from(["identity", "greedy", "metis", "local", "congestion", "best"]),
    st.integers(0, 2**16),
)
def test_any_small_job_gets_a_valid_plan_with_consistent_bounds(
    fabric_name: str, n: int, density: float, method: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    traffic = np.where(rng.random((n, n)) < density, rng.random((n, n)) * 1e9, 0.0)
    np.fill_diagonal(traffic, 0.0)
    plan = qnvlink.map_ranks(FABRICS[fabric_name], traffic, method, seed=seed)
    assert len(set(plan.mapping.tolist())) == n and plan.mapping.max() < 8
    m = plan.metrics
    assert m.sim_time_s >= m.max_congestion_s * (1 - 1e-9) - 1e-15
    assert m.max_congestion_s >= m.lower_bound_s * (1 - 1e-9) - 1e-15
