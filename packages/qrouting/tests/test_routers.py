"""Behaviour of each classical router."""

from __future__ import annotations

import numpy as np
import pytest

import qrouting
from qrouting import Locality, RoutingProblem
from qrouting.assign import enforce_capacity


def gaussian_logits(T: int, E: int, seed: int = 0, skew: float = 0.0) -> np.ndarray:
    """Standard normal logits; ``skew`` adds a per-expert popularity offset."""
    g = np.random.default_rng(seed)
    return g.standard_normal((T, E)) + skew * np.linspace(1.0, -1.0, E)[None, :]


def check_valid(plan: qrouting.RoutingPlan, problem: RoutingProblem) -> None:
    assert plan.indices.shape[0] == problem.num_tokens
    assert plan.gates.shape == plan.indices.shape
    assert plan.loads.max() <= problem.capacity
    for row in plan.indices.tolist():
        placed = [e for e in row if e >= 0]
        assert len(placed) == len(set(placed))
    assert np.all(plan.gates[plan.indices < 0] == 0)
    assert np.all(plan.gates >= 0)


@pytest.mark.parametrize("name", ["topk", "expert_choice", "sinkhorn", "balanced", "bias", "hash"])
@pytest.mark.parametrize("cf", [0.75, 1.0, 1.5])
def test_every_router_respects_capacity(name: str, cf: float) -> None:
    problem = RoutingProblem.from_scores(gaussian_logits(200, 8, skew=1.0), 2, cf)
    plan = qrouting.route(problem, name)
    check_valid(plan, problem)
    assert plan.router == name
    assert set(plan.metrics) >= {"max_vio", "drop_fraction", "affinity_retained", "objective"}


def test_topk_drops_overflow_in_batch_order() -> None:
    # 4 tokens all prefer expert 0; capacity 2 -> tokens 2 and 3 dropped (Switch behaviour)
    logits = np.array([[5.0, 0.0], [5.0, 0.0], [5.0, 0.0], [5.0, 0.0]])
    plan = qrouting.route(logits, "topk", k=1, capacity_factor=1.0)
    assert plan.indices[:, 0].tolist() == [0, 0, -1, -1]
    assert plan.dropped_tokens.tolist() == [2, 3]
    assert plan.metrics["drop_fraction"] == pytest.approx(0.5)
    assert plan.loads.tolist() == [2, 0]
    assert plan.metrics["max_vio"] == pytest.approx(1.0)  # max 2 / mean 1 - 1


def test_topk_score_priority_keeps_the_confident() -> None:
    logits = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    plan = qrouting.route(logits, "topk", k=1, capacity=2, priority="score")
    assert sorted(np.nonzero(plan.indices[:, 0] == 0)[0].tolist()) == [1, 3]


def test_gshard_rank_order_first_choices_first() -> None:
    choices = np.array([[0, 1], [0, 1], [1, 0]])
    out = enforce_capacity(choices, np.zeros((3, 2)), 2, 2)
    # first choices 0,0,1 all fit (loads [2, 1]); then token0 -> 1 fits, token1 -> 1 and
    # token2 -> 0 find their experts full
    assert out.tolist() == [[0, 1], [0, -1], [1, -1]]


def test_topk_unconstrained_retains_everything() -> None:
    logits = gaussian_logits(128, 8)
    plan = qrouting.route(logits, "topk", k=2, capacity_factor=8.0)
    assert plan.metrics["affinity_retained"] == pytest.approx(1.0)
    assert plan.metrics["drop_fraction"] == 0.0
    expected = np.argsort(-logits, axis=1)[:, :2]
    assert np.array_equal(plan.indices, expected)


def test_expert_choice_fills_every_expert() -> None:
    problem = RoutingProblem.from_scores(gaussian_logits(160, 8, skew=2.0), 2, 1.0)
    plan = qrouting.route(problem, "expert_choice")
    assert plan.loads.tolist() == [problem.capacity] * 8
    assert plan.metrics["max_vio"] == pytest.approx(0.0)
    assert plan.indices.shape[1] == plan.info["max_experts_per_token"]


def test_sinkhorn_balances_skewed_logits_better_than_topk() -> None:
    problem = RoutingProblem.from_scores(gaussian_logits(1000, 16, skew=1.5), 2, 1.0)
    s = qrouting.route(problem, "sinkhorn")
    t = qrouting.route(problem, "topk")
    assert s.metrics["drop_fraction"] < t.metrics["drop_fraction"]
    assert s.metrics["drop_fraction"] <= 0.01
    assert s.info["marginal_error"] < 1e-2


def test_sinkhorn_without_refill_may_drop_but_respects_capacity() -> None:
    problem = RoutingProblem.from_scores(gaussian_logits(500, 8, skew=3.0), 1, 1.0)
    plan = qrouting.route(problem, "sinkhorn", refill=False)
    check_valid(plan, problem)
    assert plan.info["refilled"] == 0


def test_balanced_has_zero_maxvio_and_no_drops_at_cf1() -> None:
    problem = RoutingProblem.from_scores(gaussian_logits(2048, 16, skew=2.0), 2, 1.0)
    plan = qrouting.route(problem, "balanced")
    assert plan.metrics["max_vio"] == 0.0
    assert plan.metrics["drop_fraction"] == 0.0
    assert plan.info["method"] == "auction"
    assert plan.metrics["certified_gap"] <= 1e-4
    # experts listed best first
    vals = np.take_along_axis(problem.value, plan.indices, axis=1)
    assert np.all(vals[:, 0] >= vals[:, 1])


def test_bias_router_learns_to_balance_across_batches() -> None:
    router = qrouting.BiasRouter(gamma=0.02)
    first = last = None
    for step in range(60):
        logits = gaussian_logits(512, 8, seed=step, skew=1.0)
        plan = qrouting.route(logits, router, k=2, capacity_factor=4.0)
        if step == 0:
            first = plan.metrics["max_vio"]
        last = plan.metrics["max_vio"]
    assert first is not None and last is not None
    assert last < 0.5 * first
    assert router.steps == 60
    assert router.bias is not None and router.bias[0] < 0 < router.bias[-1]
    # gates are the affinities, not affinity + bias
    problem = RoutingProblem.from_scores(gaussian_logits(64, 8), 2, 4.0)
    p = router.route(problem)
    np.testing.assert_allclose(
        p.gates, np.take_along_axis(problem.affinity, p.indices, axis=1), atol=1e-12
    )
    router.reset()
    assert router.bias is None


def test_bias_router_rejects_another_expert_count() -> None:
    router = qrouting.BiasRouter()
    qrouting.route(gaussian_logits(16, 4), router, k=1)
    with pytest.raises(qrouting.InvalidRouting, match="reset"):
        qrouting.route(gaussian_logits(16, 5), router, k=1)


def test_hash_is_deterministic_and_ignores_scores() -> None:
    ids = np.arange(100) * 7919
    a = qrouting.route(
        gaussian_logits(100, 8, seed=1), "hash", k=2, capacity_factor=2.0, token_ids=ids
    )
    b = qrouting.route(
        gaussian_logits(100, 8, seed=2), "hash", k=2, capacity_factor=2.0, token_ids=ids
    )
    assert np.array_equal(a.indices, b.indices)
    c = qrouting.route(
        gaussian_logits(100, 8, seed=2), "hash", k=2, capacity_factor=2.0, token_ids=ids, seed=3
    )
    assert not np.array_equal(a.indices, c.indices)


def test_hash_probes_instead_of_dropping() -> None:
    plan = qrouting.route(gaussian_logits(256, 8), "hash", k=2, capacity_factor=1.0)
    assert plan.metrics["drop_fraction"] == 0.0
    assert plan.metrics["max_vio"] == 0.0


def test_locality_cost_cuts_cross_node_traffic() -> None:
    T, E = 400, 8
    logits = gaussian_logits(T, E, seed=4)
    token_dev = np.arange(T) % 4
    expert_dev = np.arange(E) // 2
    far = Locality(token_dev, expert_dev, cost_per_hop=0.0)
    near = Locality(token_dev, expert_dev, cost_per_hop=0.2)
    base = qrouting.route(logits, "balanced", k=2, capacity_factor=1.0, locality=far)
    local = qrouting.route(logits, "balanced", k=2, capacity_factor=1.0, locality=near)
    assert local.metrics["cross_node_traffic"] < 0.5 * base.metrics["cross_node_traffic"]
    assert local.metrics["max_vio"] == 0.0
    assert local.metrics["affinity_retained"] < base.metrics["affinity_retained"]


def test_custom_hop_matrix() -> None:
    hops = np.array([[0, 1, 3], [1, 0, 3], [3, 3, 0]])
    loc = Locality(np.array([0, 1, 2, 2]), np.array([0, 1, 2]), cost_per_hop=1.0, hops=hops)
    plan = qrouting.route(np.zeros((4, 3)), "balanced", k=1, capacity=2, locality=loc)
    assert plan.indices[:, 0].tolist() == [0, 1, 2, 2]
    assert plan.metrics["hop_traffic"] == 0.0


def test_torch_tensor_input() -> None:
    torch = pytest.importorskip("torch")
    logits = torch.randn(64, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    plan = qrouting.route(logits, "balanced", k=2, capacity_factor=1.0)
    assert plan.metrics["max_vio"] == 0.0


def test_affinity_input_and_normalized_gates() -> None:
    aff = np.random.default_rng(0).random((32, 4))
    plan = qrouting.route(
        aff, "topk", k=2, capacity_factor=4.0, scores_are="affinity", normalize_gates=True
    )
    np.testing.assert_allclose(plan.gates.sum(axis=1), 1.0, atol=1e-12)


def test_compare_exact_reports_gap() -> None:
    logits = gaussian_logits(300, 8, skew=1.0)
    plan = qrouting.route(logits, "topk", k=2, capacity_factor=1.0, compare_exact=True)
    assert plan.metrics["gap_to_optimum"] > 0
    best = qrouting.route(logits, "balanced", k=2, capacity_factor=1.0, compare_exact=True)
    assert best.metrics["gap_to_optimum"] == pytest.approx(0.0, abs=1e-9)


def test_list_and_get_router() -> None:
    assert set(qrouting.list_routers()) == {
        "topk",
        "expert_choice",
        "sinkhorn",
        "balanced",
        "bias",
        "hash",
        "qubo",
        "hybrid",
    }
    assert isinstance(qrouting.get_router("balanced", method="lp"), qrouting.BalancedRouter)
