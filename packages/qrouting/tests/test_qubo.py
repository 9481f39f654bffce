"""The QUBO path through qcore reaches the balanced optimum; the hybrid reports its winner."""

from __future__ import annotations

import numpy as np
import pytest
import qcore

import qrouting
from qrouting import RoutingProblem
from qrouting.qubo import decode, encode, routing_bqm


def small(T: int, E: int, k: int, seed: int, capacity: int | None = None) -> RoutingProblem:
    logits = np.random.default_rng(seed).standard_normal((T, E)) * 2.0
    return RoutingProblem.from_scores(logits, k, 1.0, capacity=capacity)


@pytest.mark.parametrize(
    ("T", "E", "k", "cap"),
    [(4, 2, 1, None), (6, 3, 1, None), (4, 3, 1, None), (3, 4, 2, None), (6, 2, 1, 3)],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qubo_exact_reaches_balanced_optimum(
    T: int, E: int, k: int, cap: int | None, seed: int
) -> None:
    problem = small(T, E, k, seed, cap)
    best = qrouting.route(problem, "balanced", method="lp").metrics["objective"]
    plan = qrouting.route(problem, "qubo", solver="exact")
    assert plan.info["violations"] == 0
    assert plan.info["proven_optimal"] is True
    assert plan.metrics["objective"] == pytest.approx(best, abs=1e-9)


def test_qubo_sa_reaches_optimum_on_small_instance() -> None:
    problem = small(6, 3, 1, seed=4)
    best = qrouting.route(problem, "balanced", method="lp").metrics["objective"]
    plan = qrouting.route(
        problem, "qubo", solver="sa", seed=1, solver_params={"num_reads": 200, "num_sweeps": 2000}
    )
    assert plan.info["solver"] == "sa"
    assert plan.metrics["objective"] == pytest.approx(best, abs=1e-9)


def test_ground_state_energy_matches_objective() -> None:
    problem = small(4, 2, 1, seed=0)
    bqm = routing_bqm(problem)
    best = qrouting.route(problem, "balanced", method="lp")
    sample = encode(problem, best.indices)
    # no penalty is paid by a feasible routing: energy == -objective
    assert bqm.energy(sample) == pytest.approx(-best.metrics["objective"], abs=1e-9)
    idx, violations = decode(problem, sample)
    assert violations == 0
    assert np.array_equal(np.sort(idx, axis=1), np.sort(best.indices, axis=1))


def test_encode_sets_slack_for_free_capacity() -> None:
    problem = small(3, 4, 2, seed=0)  # C = 2, 8 slots for 6 assignments: slack needed
    bqm = routing_bqm(problem)
    assert any(v[0] == "s" for v in bqm.variables)
    best = qrouting.route(problem, "balanced", method="lp")
    assert bqm.energy(encode(problem, best.indices)) == pytest.approx(
        -best.metrics["objective"], abs=1e-9
    )


def test_qubo_too_large_is_refused() -> None:
    problem = small(300, 8, 2, seed=0)  # 2400 variables
    with pytest.raises(qrouting.InvalidRouting, match="max_variables"):
        qrouting.route(problem, "qubo")


def test_qubo_solver_failure_is_router_failed() -> None:
    problem = small(8, 4, 1, seed=0)  # > 26 variables: exact refuses
    with pytest.raises(qrouting.RouterFailed, match="exact"):
        qrouting.route(problem, "qubo", solver="exact")


def test_hybrid_keeps_classical_when_quantum_fails() -> None:
    problem = small(8, 4, 1, seed=0)
    plan = qrouting.route(problem, "hybrid", classical="topk", solver="exact")
    assert plan.info["winner"] == "classical"
    assert "exact" in plan.info["quantum_error"]
    topk = qrouting.route(problem, "topk")
    assert np.array_equal(plan.indices, topk.indices)


def test_hybrid_quantum_wins_over_weak_classical() -> None:
    # every token prefers expert 0 -> topk drops half; the QUBO optimum places everyone
    logits = np.array([[3.0, 0.0], [2.5, 0.0], [2.0, 0.1], [1.0, 0.5]])
    problem = RoutingProblem.from_scores(logits, 1, 1.0)
    plan = qrouting.route(problem, "hybrid", classical="topk", solver="exact")
    assert plan.info["winner"] == "quantum"
    assert plan.info["quantum_warm_started"] is False  # exact enumeration takes no warm start
    assert plan.metrics["drop_fraction"] == 0.0
    best = qrouting.route(problem, "balanced", method="lp").metrics["objective"]
    assert plan.metrics["objective"] == pytest.approx(best)


def test_hybrid_warm_starts_annealer_and_never_loses() -> None:
    problem = small(6, 3, 1, seed=3)
    plan = qrouting.route(problem, "hybrid", classical="balanced", solver="sa", seed=0)
    assert plan.info["quantum_warm_started"] is True
    # the classical plan is optimal here, so the quantum one cannot be strictly better
    assert plan.info["winner"] == "classical"
    assert plan.metrics["objective"] >= plan.info["quantum_objective"] - 1e-9


def test_qubo_with_qaoa_when_available() -> None:
    names = {s.name for s in qcore.list_solvers() if s.available}
    if "qaoa" not in names:
        pytest.skip("qcore's qaoa solver is not available here")
    problem = small(2, 2, 1, seed=0)  # 4 qubits
    best = qrouting.route(problem, "balanced", method="lp").metrics["objective"]
    plan = qrouting.route(
        problem,
        "hybrid",
        classical="topk",
        solver="qaoa",
        seed=0,
        solver_params={"p": 1, "maxiter": 30},
    )
    assert plan.info["winner"] in ("quantum", "classical")
    assert plan.info.get("quantum_solver") == "qaoa"
    assert (
        plan.metrics["objective"] == pytest.approx(best, abs=1e-9)
        or plan.info["winner"] == "classical"
    )
