"""``balanced`` is exact: auction and LP against an independent min-cost-flow solution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qrouting
from qrouting.auction import auction_transport, dual_bound
from qrouting.exact import solve_transport_lp
from qrouting.problem import RoutingProblem

nx = pytest.importorskip("networkx")

SCALE = 10**6  # integer costs for networkx' network simplex


def min_cost_flow_optimum(V: np.ndarray, k: int, C: int) -> float:
    """Independent reference: source -> token (k) -> expert (1 each) -> sink (C each)."""
    T, E = V.shape
    g = nx.DiGraph()
    g.add_node("s", demand=-T * k)
    g.add_node("z", demand=T * k)
    for t in range(T):
        g.add_edge("s", ("t", t), capacity=k, weight=0)
        for e in range(E):
            g.add_edge(("t", t), ("e", e), capacity=1, weight=-round(V[t, e] * SCALE))
    for e in range(E):
        g.add_edge(("e", e), "z", capacity=C, weight=0)
    flow = nx.min_cost_flow(g)
    total = 0.0
    for t in range(T):
        for e in range(E):
            if flow[("t", t)][("e", e)]:
                total += V[t, e]
    return total


CASES = [(60, 4, 1, 1.0), (90, 6, 2, 1.0), (80, 5, 2, 1.3), (50, 8, 3, 1.1), (40, 3, 3, 1.0)]


@pytest.mark.parametrize(("T", "E", "k", "cf"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_balanced_matches_min_cost_flow(T: int, E: int, k: int, cf: float, seed: int) -> None:
    logits = np.random.default_rng(seed).standard_normal((T, E)) * 2.0
    problem = RoutingProblem.from_scores(logits, k, cf)
    reference = min_cost_flow_optimum(problem.value, k, problem.capacity)
    lp = qrouting.route(problem, "balanced", method="lp")
    auction = qrouting.route(problem, "balanced", method="auction", rel_tol=1e-6)
    assert lp.metrics["objective"] == pytest.approx(reference, rel=1e-5)
    assert auction.metrics["objective"] == pytest.approx(reference, rel=1e-5)
    # the certificate is a true upper bound of the optimum
    assert auction.info["upper_bound"] >= reference - 1e-9
    for plan in (lp, auction):
        assert plan.loads.max() <= problem.capacity
        assert plan.metrics["drop_fraction"] == 0.0
        assert all(len(set(row)) == k for row in plan.indices.tolist())


def test_auction_certificate_bounds_true_gap() -> None:
    V = np.random.default_rng(5).random((400, 12))
    res = auction_transport(V, 2, 70, rel_tol=1e-2)  # loose on purpose
    opt = solve_transport_lp(V, 2, 70).objective
    assert res.primal <= opt + 1e-9
    assert opt - res.primal <= res.gap_bound + 1e-9
    assert opt - res.primal <= res.eps_bound + 1e-9
    assert res.dual == pytest.approx(dual_bound(V, 2, 70, res.prices))


def test_dual_bound_is_an_upper_bound_for_any_prices() -> None:
    g = np.random.default_rng(7)
    V = g.standard_normal((100, 6))
    opt = solve_transport_lp(V, 2, 40).objective
    for _ in range(20):
        assert dual_bound(V, 2, 40, g.random(6)) >= opt - 1e-9


def test_lp_column_generation_equals_full_lp() -> None:
    V = np.random.default_rng(3).standard_normal((500, 16))
    full = solve_transport_lp(V, 2, 63)
    pruned = solve_transport_lp(V, 2, 63, candidates=3)
    assert pruned.objective == pytest.approx(full.objective, rel=1e-9)


def test_overflow_drop_mode_is_optimal() -> None:
    """With E*C < T*k every expert is filled and the best assignments are kept."""
    logits = np.random.default_rng(2).standard_normal((60, 4))
    problem = RoutingProblem.from_scores(logits, 2, 0.5)
    assert problem.overflow > 0
    lp = qrouting.route(problem, "balanced", method="lp")
    auction = qrouting.route(problem, "balanced", method="auction", rel_tol=1e-7)
    # reference: the transposed problem (experts choose C tokens, tokens hold <= k)
    ref = min_cost_flow_optimum(problem.value.T, problem.capacity, 2)
    assert lp.metrics["objective"] == pytest.approx(ref, rel=1e-5)
    assert auction.metrics["objective"] == pytest.approx(ref, rel=1e-5)
    for plan in (lp, auction):
        assert list(plan.loads) == [problem.capacity] * 4
        assert plan.metrics["drop_fraction"] == pytest.approx(problem.overflow / (60 * 2))


def test_balanced_beats_every_heuristic() -> None:
    logits = np.random.default_rng(11).standard_normal((300, 8)) + np.linspace(1, -1, 8)
    problem = RoutingProblem.from_scores(logits, 2, 1.0)
    best = qrouting.route(problem, "balanced", method="lp").metrics["objective"]
    for name in ("topk", "sinkhorn", "bias", "hash"):
        plan = qrouting.route(problem, name)
        assert plan.metrics["objective"] <= best + 1e-9, name


@settings(max_examples=15, deadline=None)
@given(
    T=st.integers(2, 40),
    E=st.integers(2, 6),
    k=st.integers(1, 3),
    cf=st.floats(0.6, 2.0),
    seed=st.integers(0, 10_000),
)
def test_auction_agrees_with_lp_property(T: int, E: int, k: int, cf: float, seed: int) -> None:
    k = min(k, E)
    logits = np.random.default_rng(seed).standard_normal((T, E))
    problem = RoutingProblem.from_scores(logits, k, cf)
    lp = qrouting.route(problem, "balanced", method="lp")
    auction = qrouting.route(problem, "balanced", method="auction", rel_tol=1e-7)
    assert auction.metrics["objective"] == pytest.approx(lp.metrics["objective"], abs=1e-6)
    assert auction.loads.max() <= problem.capacity
    assert lp.metrics["drop_fraction"] == pytest.approx(auction.metrics["drop_fraction"])


@pytest.mark.slow
def test_benchmark_instance_within_a_tenth_of_a_percent() -> None:
    """The issue's instance: 65,536 x 64, k=2, cf=1.0."""
    from qrouting.bench import run_benchmark

    result = run_benchmark(routers=("balanced",), repeats=1)
    row = result["routers"]["balanced"]
    assert row["max_vio"] == 0.0
    assert 0 <= row["gap_to_optimum"] <= 1e-3
    assert row["gap_to_optimum"] <= row["certified_gap"] + 1e-12
