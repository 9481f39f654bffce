"""Classic problems: the penalised optimum equals the brute-force constrained optimum."""

from __future__ import annotations

import itertools

import dimod
import networkx as nx
import numpy as np
import pytest
from dwave.samplers import SimulatedAnnealingSampler

from qcore.errors import InvalidProblem
from qcore.problems import (
    AssignmentSolution,
    ColoringSolution,
    CutSolution,
    PartitionSolution,
    SelectionSolution,
    assignment,
    graph_coloring,
    graph_partition,
    maxcut,
    subset_selection,
)

EXACT = dimod.ExactSolver()
TOL = 1e-9


def ground(problem):
    """Decoded ground states of ``problem.bqm`` (all of them) via exact enumeration."""
    assert problem.bqm.num_variables <= 14
    sampleset = EXACT.sample(problem.bqm)
    return sampleset.first.energy, problem.decode_all(sampleset.lowest(atol=1e-6))


def weighted_graph(seed, n=6, p=0.6):
    rng = np.random.default_rng(seed)
    G = nx.gnp_random_graph(n, p, seed=seed)
    for u, v in G.edges:
        G.edges[u, v]["weight"] = float(rng.integers(-2, 6))
    return G


def cut_weight(G, side):
    return sum(w for u, v, w in G.edges(data="weight", default=1) if (u in side) != (v in side))


# --------------------------------------------------------------------------- max-cut


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maxcut_energy_is_minus_cut_and_optimum_is_the_max_cut(seed):
    G = weighted_graph(seed, n=7)
    problem = maxcut(G)
    assert problem.bqm.vartype is dimod.SPIN
    nodes = list(G.nodes)
    best = max(cut_weight(G, set(c)) for r in range(8) for c in itertools.combinations(nodes, r))
    sampleset = EXACT.sample(problem.bqm)
    for row in sampleset.data(["sample", "energy"]):  # energy == -cut on every state
        side = {v for v in nodes if row.sample[v] == 1}
        assert row.energy == pytest.approx(-cut_weight(G, side), abs=TOL)
    decoded = problem.decode(sampleset)
    assert isinstance(decoded.solution, CutSolution)
    assert decoded.solution.value == pytest.approx(best)
    minus, plus = decoded.solution.sides
    assert minus | plus == set(nodes) and not minus & plus
    assert decoded.feasible and decoded.objective == pytest.approx(-best)


def test_maxcut_unit_weights_and_self_loops():
    G = nx.cycle_graph(5)
    G.add_edge(0, 0, weight=9.0)  # never cut: ignored
    problem = maxcut(G, weight=None)
    assert problem.decode(EXACT.sample(problem.bqm)).solution.value == 4.0


def test_maxcut_on_a_larger_graph_with_seeded_sa():
    G = nx.random_regular_graph(3, 40, seed=5)
    problem = maxcut(G)
    sampleset = SimulatedAnnealingSampler().sample(problem.bqm, num_reads=8, seed=11)
    decoded = problem.decode(sampleset)
    assert decoded.solution.value == pytest.approx(-sampleset.first.energy)
    assert decoded.solution.value >= 0.85 * G.number_of_edges()  # a 3-regular graph cuts well


# --------------------------------------------------------------------------- partition


def brute_partition(G, k, low, high):
    nodes = list(G.nodes)
    best = None
    for labels in itertools.product(range(k), repeat=len(nodes)):
        sizes = [labels.count(p) for p in range(k)]
        if not all(low <= s <= high for s in sizes):
            continue
        part = dict(zip(nodes, labels, strict=True))
        cut = sum(w for u, v, w in G.edges(data="weight", default=1) if part[u] != part[v])
        best = cut if best is None else min(best, cut)
    return best


@pytest.mark.parametrize(
    ("G", "k", "tolerance", "low", "high"),
    [
        (
            nx.Graph([(0, 1, {"weight": 3}), (1, 2, {"weight": 1}), (2, 3, {"weight": 3})]),
            2,
            0,
            2,
            2,
        ),
        (
            nx.Graph([(0, 1, {"weight": 5}), (1, 2, {"weight": 1}), (0, 2, {"weight": 2})]),
            2,
            0,
            1,
            2,
        ),
        (nx.star_graph(3), 2, 0, 2, 2),
    ],
)
def test_partition_optimum_is_balanced_and_minimal(G, k, tolerance, low, high):
    problem = graph_partition(G, k, tolerance=tolerance)
    energy, states = ground(problem)
    best = brute_partition(G, k, low, high)
    assert energy == pytest.approx(best)
    for decoded in states:
        assert decoded.feasible
        solution = decoded.solution
        assert isinstance(solution, PartitionSolution)
        assert all(low <= s <= high for s in solution.sizes)
        assert None not in solution.part.values()
        assert solution.cut_value == pytest.approx(best)


def test_partition_reports_broken_size_constraints():
    problem = graph_partition(nx.path_graph(4), 2)
    everyone_in_part_0 = {v: int(v[1] == 0) for v in problem.cqm.variables}
    decoded = problem.decode(everyone_in_part_0)
    assert not decoded.feasible
    assert {v.label: v.amount for v in decoded.violations} == {"size[0]": 2.0, "size[1]": 2.0}
    assert decoded.solution.cut_value == 0.0


def test_partition_of_a_larger_graph_with_seeded_sa_is_balanced():
    G = nx.connected_caveman_graph(2, 6)  # two 6-cliques joined by one edge
    problem = graph_partition(G, 2)
    # moving a node flips two one-hot bits through a penalised state: SA needs many reads
    sampleset = SimulatedAnnealingSampler().sample(
        problem.bqm, num_reads=50, num_sweeps=2000, seed=3
    )
    decoded = problem.decode(sampleset)
    assert decoded.feasible
    assert decoded.solution.sizes == [6, 6]
    assert decoded.solution.cut_value == 2.0  # the two edges joining the caves


# --------------------------------------------------------------------------- colouring


@pytest.mark.parametrize(
    ("G", "k", "conflicts"),
    [
        (nx.complete_graph(3), 3, 0),
        (nx.complete_graph(3), 2, 1),
        (nx.path_graph(4), 2, 0),
        (nx.cycle_graph(5), 2, 1),
    ],
)
def test_coloring_optimum_is_one_hot_with_fewest_conflicts(G, k, conflicts):
    problem = graph_coloring(G, k)
    energy, states = ground(problem)
    assert energy == pytest.approx(conflicts)
    for decoded in states:
        assert decoded.feasible
        solution = decoded.solution
        assert isinstance(solution, ColoringSolution)
        assert None not in solution.color.values()
        clashing = [(u, v) for u, v in G.edges if solution.color[u] == solution.color[v]]
        assert len(solution.conflicts) == len(clashing) == conflicts
        assert solution.proper == (conflicts == 0)


def test_coloring_of_a_larger_graph_with_seeded_sa_is_proper():
    G = nx.cycle_graph(12)
    problem = graph_coloring(G, 3)
    sampleset = SimulatedAnnealingSampler().sample(problem.bqm, num_reads=10, seed=2)
    solution = problem.decode(sampleset).solution
    assert solution.proper
    assert all(solution.color[u] != solution.color[v] for u, v in G.edges)


def test_coloring_marks_nodes_without_a_single_colour():
    problem = graph_coloring(nx.path_graph(2), 2)
    decoded = problem.decode({(0, 0): 1, (0, 1): 1, (1, 0): 0, (1, 1): 0})
    assert decoded.solution.color == {0: None, 1: None}
    assert {v.label for v in decoded.violations} == {"one_hot[0]", "one_hot[1]"}


# --------------------------------------------------------------------------- assignment


def brute_assignment(cost, capacities, demands):
    cost = np.asarray(cost)
    best = None
    for bins in itertools.product(range(cost.shape[1]), repeat=cost.shape[0]):
        loads = [
            sum(d for d, b in zip(demands, bins, strict=True) if b == j)
            for j in range(len(capacities))
        ]
        if all(load <= cap for load, cap in zip(loads, capacities, strict=True)):
            total = sum(cost[i, b] for i, b in enumerate(bins))
            best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize(
    ("cost", "capacities", "demands"),
    [
        ([[1, 2], [3, 1], [2, 2]], [3, 3], [2, 1, 2]),
        ([[1.0, 9.0], [1.0, 9.0], [1.0, 9.0]], [2, 5], [1, 1, 1]),  # cheap bin too small
        ([[4, 1, 3], [2, 0, 5], [3, 2, 2]], [1, 1, 1], None),  # a 3x3 linear assignment
    ],
)
def test_assignment_optimum_matches_enumeration(cost, capacities, demands):
    problem = assignment(cost, capacities, demands)
    energy, states = ground(problem)
    needs = demands or [1] * len(cost)
    best = brute_assignment(cost, capacities, needs)
    assert energy == pytest.approx(best)
    for decoded in states:
        assert decoded.feasible
        solution = decoded.solution
        assert isinstance(solution, AssignmentSolution)
        assert None not in solution.bin_of.values()
        assert solution.cost == pytest.approx(best)
        assert solution.overloaded == []
        assert all(load <= cap for load, cap in zip(solution.loads, capacities, strict=True))


def test_assignment_reports_overload():
    problem = assignment([[1, 2], [1, 2]], [1, 1], [1, 1])
    decoded = problem.decode({(0, 0): 1, (0, 1): 0, (1, 0): 1, (1, 1): 0})
    assert decoded.solution.overloaded == [0]
    assert decoded.violations[0].label == "capacity[0]" and decoded.violations[0].amount == 1.0


# --------------------------------------------------------------------------- subset selection


def brute_selection(values, pairwise, allowed):
    n = len(values)
    best = None
    for bits in itertools.product((0, 1), repeat=n):
        if not allowed(sum(bits)):
            continue
        chosen = [i for i in range(n) if bits[i]]
        value = sum(values[i] for i in chosen) - sum(
            pairwise[i][j] for i, j in itertools.combinations(chosen, 2)
        )
        best = value if best is None else max(best, value)
    return best


SEL_VALUES = [3.0, 2.0, 4.0, 1.0, 2.5, 3.0]
SEL_PAIRWISE = np.zeros((6, 6))
for (_i, _j), _w in {(0, 1): 1.0, (2, 3): 5.0, (4, 5): 2.0, (0, 2): 3.5, (1, 5): 0.5}.items():
    SEL_PAIRWISE[_i, _j] = SEL_PAIRWISE[_j, _i] = _w


@pytest.mark.parametrize(
    ("kwargs", "allowed"),
    [
        ({"at_most": 3}, lambda c: c <= 3),
        ({"k": 2}, lambda c: c == 2),
        ({}, lambda c: True),
    ],
)
def test_subset_selection_maximises_value_minus_redundancy(kwargs, allowed):
    problem = subset_selection(SEL_VALUES, SEL_PAIRWISE, **kwargs)
    energy, states = ground(problem)
    best = brute_selection(SEL_VALUES, SEL_PAIRWISE, allowed)
    assert -energy == pytest.approx(best)
    for decoded in states:
        assert decoded.feasible
        assert isinstance(decoded.solution, SelectionSolution)
        assert decoded.solution.value == pytest.approx(best)
        assert allowed(len(decoded.solution.items))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: maxcut(nx.Graph()), "G: has no nodes"),
        (lambda: maxcut([(0, 1)]), "G: expected a networkx.Graph"),
        (lambda: maxcut(nx.DiGraph([(0, 1)])), "G: is directed"),
        (lambda: maxcut(nx.Graph([(0, 1, {"weight": float("nan")})])), "must be finite"),
        (lambda: maxcut(nx.Graph([(0, 1, {"weight": "heavy"})])), "must be numbers"),
        (lambda: graph_partition(nx.path_graph(3), 4), "k: is 4 but G has only 3 nodes"),
        (lambda: graph_partition(nx.path_graph(3), 0), "k: is 0"),
        (lambda: graph_partition(nx.path_graph(3), 2, tolerance=-1), "tolerance: is -1"),
        (lambda: graph_coloring(nx.path_graph(3), 5), "k: is 5 but G has only 3 nodes"),
        (lambda: graph_coloring(nx.Graph([(0, 0), (0, 1)]), 2), "self-loop"),
        (lambda: assignment([[1, float("nan")]], [1, 1]), r"cost\[0\]\[1\]: is nan"),
        (lambda: assignment([1, 2], [1, 1]), "cost: expected a non-empty 2-D"),
        (lambda: assignment([[1, 2]], [1, -1]), r"capacities\[1\]: is -1"),
        (lambda: assignment([[1, 2]], [1]), "capacities: has 1 entries but 2"),
        (lambda: assignment([[1, 2]], [2, 2], [1.5]), r"demands\[0\].*scale"),
        (lambda: assignment([[1, 2], [1, 2]], [1, 0]), "total 2 exceeds the total capacity 1"),
        (lambda: assignment([[1, 2]], [1, 1], [2]), r"demands\[0\]: is 2, more than"),
        (lambda: subset_selection([1.0, float("inf")]), r"values\[1\]: is inf"),
        (lambda: subset_selection([]), "values: expected a non-empty"),
        (lambda: subset_selection([1, 2], [[0, 1], [2, 0]]), "pairwise: is not symmetric"),
        (lambda: subset_selection([1, 2], [[1, 0], [0, 0]]), "non-zero diagonal"),
        (lambda: subset_selection([1, 2], [[0]]), "pairwise: has shape"),
        (lambda: subset_selection([1, 2], k=1, at_most=1), "give at most one"),
        (lambda: subset_selection([1, 2], k=3), "k: is 3 but there are only 2"),
        (lambda: subset_selection([1, 2], at_most=-1), "at_most: is -1"),
    ],
)
def test_bad_input_names_the_field(call, match):
    with pytest.raises(InvalidProblem, match=match):
        call()
