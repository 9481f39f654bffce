"""Behaviour of qcore's own solvers beyond the conformance suite."""

import dimod
import dimod.testing
import networkx as nx
import numpy as np
import pytest

import qcore
from qcore.errors import InvalidProblem, ProblemTooLarge, SolverTimeout, SolverUnavailable
from qcore.solvers import bifurcation
from qcore.solvers.bifurcation import default_c0
from qcore.testing import random_bqm
from qcore.validation import ising_arrays


def maxcut_bqm(graph: nx.Graph) -> dimod.BinaryQuadraticModel:
    return dimod.BinaryQuadraticModel({}, {e: 1.0 for e in graph.edges}, 0.0, "SPIN")


# --- exact -----------------------------------------------------------------------------------


@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_exact_matches_dimod_enumeration_including_k_lowest(vartype):
    bqm = random_bqm(12, vartype, seed=21)
    ours = qcore.solve(bqm, "exact", num_states=5).sampleset
    reference = dimod.ExactSolver().sample(bqm).record.energy
    assert np.allclose(np.sort(ours.record.energy), np.sort(reference)[:5])
    assert ours.info["proven_optimal"] is True


def test_exact_crosses_block_boundaries():
    # 19 variables: 3 high bits, so several high-bit blocks and the merge across them are used
    bqm = random_bqm(19, "SPIN", seed=3, density=0.4)
    states = qcore.solve(bqm, "exact", num_states=3).sampleset
    arrays = ising_arrays(bqm)
    all_states = (((np.arange(2**19)[:, None] >> np.arange(19)) & 1) * 2 - 1).astype(np.int8)
    energies = np.sort(arrays.energies(all_states))[:3]
    assert np.allclose(np.sort(states.record.energy), energies)


def test_exact_refuses_large_models_and_names_alternatives():
    bqm = random_bqm(27, "SPIN", seed=1, density=0.1)
    with pytest.raises(ProblemTooLarge, match="decompose"):
        qcore.get_solver("exact").sample(bqm)


def test_exact_reports_timeout_with_progress():
    bqm = random_bqm(24, "SPIN", seed=1, density=0.2)
    with pytest.raises(SolverTimeout, match="budget"):
        qcore.get_solver("exact").sample(bqm, time_limit=1e-4)


# --- simulated bifurcation -------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["ballistic", "discrete"])
def test_sb_solves_small_maxcut_to_optimum(variant):
    graph = nx.random_regular_graph(3, 16, seed=4)
    bqm = maxcut_bqm(graph)
    best = qcore.solve(bqm, "exact").energy
    found = qcore.solve(bqm, "sb", seed=2, variant=variant, agents=32).energy
    assert found == pytest.approx(best)


def test_sb_dense_and_sparse_paths_agree(monkeypatch):
    bqm = random_bqm(40, "SPIN", seed=8, density=0.3)
    sparse = qcore.solve(bqm, "sb", seed=5, agents=8, max_steps=300, patience=10**6)
    monkeypatch.setattr(bifurcation, "DENSE_ABOVE", -1.0)  # force the dense matrix product
    dense = qcore.solve(bqm, "sb", seed=5, agents=8, max_steps=300, patience=10**6)
    assert dense.energy == pytest.approx(sparse.energy)


def test_sb_numpy_and_torch_backends_follow_the_same_dynamics():
    bqm = random_bqm(30, "SPIN", seed=9, density=0.5)
    kw = {"seed": 4, "agents": 8, "max_steps": 400, "patience": 10**6}
    a = qcore.solve(bqm, "sb", backend="numpy", **kw).sampleset
    b = qcore.solve(bqm, "sb", backend="torch", device="cpu", **kw).sampleset
    assert a.first.energy == pytest.approx(b.first.energy)


def test_sb_torch_device_side_check_keeps_every_agents_best_with_biases_and_offset():
    # the torch path screens agents by an on-device energy estimate; with linear biases (an
    # extra spin) and an offset it must still keep exactly what the numpy path keeps
    bqm = random_bqm(25, "BINARY", seed=12, density=0.4)
    bqm.offset = 3.5
    kw = {"seed": 7, "agents": 12, "max_steps": 300, "patience": 10**6, "check_every": 7}
    a = qcore.solve(bqm, "sb", backend="numpy", **kw).sampleset
    b = qcore.solve(bqm, "sb", backend="torch", device="cpu", **kw).sampleset
    assert sorted(a.record.energy) == pytest.approx(sorted(b.record.energy))
    dimod.testing.assert_sampleset_energies(b, bqm)


def test_sb_stops_early_when_converged_and_reports_it():
    graph = nx.cycle_graph(10)
    ss = qcore.solve(maxcut_bqm(graph), "sb", seed=1, max_steps=20000).sampleset
    assert ss.info["stopped_early"] is True
    assert ss.info["steps"] < 20000


def test_sb_c0_is_stable_on_same_sign_graphs():
    # a dense all-positive graph has one eigenvalue near the mean degree; the cap keeps
    # c0 * spectral radius at 0.5, so the all-equal state does not win by instability
    graph = nx.gnp_random_graph(200, 0.3, seed=1)
    arrays = ising_arrays(maxcut_bqm(graph))
    c0 = default_c0(-arrays.J)
    radius = abs(np.linalg.eigvalsh(arrays.J.toarray())).max()
    assert c0 * radius <= 0.5 + 1e-9
    cut = qcore.solve(maxcut_bqm(graph), "sb", seed=0, agents=16).energy
    assert cut < -0.1 * graph.number_of_edges()  # far from the all-equal energy (+|E|)


def test_sb_bad_arguments():
    bqm = random_bqm(5, "SPIN", seed=1)
    sb = qcore.get_solver("sb")
    for kwargs, field in (
        ({"variant": "quantum"}, "variant"),
        ({"agents": 0}, "agents"),
        ({"dt": 5.0}, "dt"),
        ({"backend": "jax"}, "backend"),
        ({"backend": "numpy", "device": "cuda"}, "device"),
    ):
        with pytest.raises(InvalidProblem, match=field):
            sb.sample(bqm, **kwargs)


def test_sb_without_torch_names_the_extra(monkeypatch):
    monkeypatch.setattr(bifurcation, "torch_status", lambda device: "torch is not installed")
    with pytest.raises(SolverUnavailable) as info:
        qcore.get_solver("sb").sample(random_bqm(5, "SPIN", seed=1), backend="torch")
    assert info.value.extra == "torch"


@pytest.mark.skipif(bifurcation.torch_status("cuda") is not None, reason="no CUDA device here")
def test_sb_on_cuda_matches_cpu_quality():
    graph = nx.random_regular_graph(3, 16, seed=4)
    bqm = maxcut_bqm(graph)
    best = qcore.solve(bqm, "exact").energy
    assert qcore.solve(bqm, "sb", seed=2, device="cuda", agents=32).energy == pytest.approx(best)


# --- auto ------------------------------------------------------------------------------------


def test_auto_proves_small_models_with_exact():
    result = qcore.solve(random_bqm(14, "BINARY", seed=2), "auto")
    assert result.proven_optimal
    assert result.sampleset.info["winner"] == "exact"


def test_auto_portfolio_reports_members_trace_and_polishes():
    bqm = random_bqm(60, "SPIN", seed=3, density=0.2)
    result = qcore.solve(bqm, "auto", seed=1, time_limit=2.0)
    info = result.sampleset.info
    assert set(info["members"]) == {"tabu", "pt"}  # dense: tabu and parallel tempering
    assert info["winner"] in info["members"]
    times = [t for t, _, _ in info["trace"]]
    energies = [e for _, e, _ in info["trace"]]
    assert times == sorted(times)
    assert energies == sorted(energies, reverse=True)
    assert energies[-1] == pytest.approx(result.energy)
    # the answer is a 1-flip local minimum (the steepest-descent polish guarantees it)
    arrays = ising_arrays(bqm)
    spins = np.array([result.sample[v] for v in arrays.variables], dtype=float)
    field = arrays.h + arrays.J @ spins
    assert np.all(-2 * spins * field >= -1e-9)


def test_auto_races_tabu_and_pt_on_dense_models_and_sa_and_pt_on_sparse_ones():
    graph = nx.gnp_random_graph(40, 0.5, seed=3)
    result = qcore.solve(maxcut_bqm(graph), "auto", seed=1, time_limit=1.0)
    assert set(result.sampleset.info["members"]) == {"tabu", "pt"}
    sparse = maxcut_bqm(nx.random_regular_graph(3, 200, seed=3))
    result = qcore.solve(sparse, "auto", seed=1, time_limit=1.0)
    assert set(result.sampleset.info["members"]) == {"sa", "pt"}


def test_auto_brings_tabu_to_penalty_built_models():
    from qcore.problems import graph_coloring

    problem = graph_coloring(nx.random_regular_graph(3, 20, seed=7), 3)
    result = qcore.solve(problem.bqm, "auto", seed=1, time_limit=2.0)
    assert "tabu" in result.sampleset.info["members"]
    decoded = problem.decode(result)
    assert decoded.feasible and decoded.solution.proper  # 3-regular, not K4: 3-colourable


def test_auto_single_worker_and_explicit_members():
    bqm = random_bqm(40, "SPIN", seed=4, density=0.2)
    one = qcore.solve(bqm, "auto", seed=1, time_limit=1.0, workers=1)
    assert one.sampleset.info["workers"] == 1
    chosen = qcore.solve(bqm, "auto", seed=1, time_limit=1.0, members=("sb",))
    assert set(chosen.sampleset.info["members"]) == {"sb"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"members": ("qpu",)}, "members"),
        ({"members": "sa"}, "members"),
        ({"workers": 0}, "workers"),
        ({"exact_limit": 40}, "exact_limit"),
    ],
)
def test_auto_bad_arguments(kwargs, field):
    with pytest.raises(InvalidProblem, match=field):
        qcore.solve(random_bqm(30, "SPIN", seed=1), "auto", time_limit=1.0, **kwargs)


def test_auto_without_time_limit_uses_a_size_based_budget():
    bqm = random_bqm(50, "SPIN", seed=6, density=0.1)
    result = qcore.solve(bqm, "auto", seed=1)
    assert result.sampleset.info["budget_s"] < 2.0


def test_typical_beta_range_starts_colder_than_dwave_default_on_maxcut():
    from dwave.samplers.sa.sampler import _default_ising_beta_range

    from qcore.solvers.portfolio import typical_beta_range

    bqm = maxcut_bqm(nx.random_regular_graph(12, 400, seed=2))
    hot, cold = typical_beta_range(bqm, seed=0)
    default_hot, default_cold = _default_ising_beta_range(bqm.linear, bqm.quadratic)
    assert cold == pytest.approx(default_cold)
    assert default_hot < hot < cold
    # a typical flip costs about 2 * |local field| ~ 2 * sqrt(degree) at a random state
    assert hot == pytest.approx(np.log(2) / (2 * np.sqrt(12) * 0.67), rel=0.5)
