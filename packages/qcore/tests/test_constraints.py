"""Penalty builders, the auto-penalty guarantee, to_bqm and Problem.decode, by enumeration."""

from __future__ import annotations

import itertools
import math

import dimod
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcore.constraints import (
    Decoded,
    Problem,
    Violation,
    at_most_k,
    auto_penalty,
    capacity,
    exactly_k,
    load_balance,
    one_hot,
    to_bqm,
)
from qcore.errors import InvalidProblem

TOL = 1e-9
EXACT = dimod.ExactSolver()


def assignments(variables):
    """Every 0/1 assignment of ``variables`` as a dict."""
    for bits in itertools.product((0, 1), repeat=len(variables)):
        yield dict(zip(variables, bits, strict=True))


def min_over_slack(bqm, sample):
    """The lowest energy of ``bqm`` with ``sample`` fixed, minimised over the other variables."""
    rest = [v for v in bqm.variables if v not in sample]
    return min(bqm.energy({**sample, **extra}) for extra in assignments(rest))


# --------------------------------------------------------------------------- builders


def test_one_hot_is_zero_exactly_on_one_hot_assignments():
    bqm = one_hot(["a", "b", "c", "d"], strength=2.5)
    assert bqm.vartype is dimod.BINARY
    for sample in assignments(["a", "b", "c", "d"]):
        ones = sum(sample.values())
        assert bqm.energy(sample) == pytest.approx(2.5 * (ones - 1) ** 2, abs=TOL)


@pytest.mark.parametrize("k", [0, 2, 4])
def test_exactly_k_energy_is_squared_count_error(k):
    bqm = exactly_k(range(4), k, strength=3.0)
    for sample in assignments(list(range(4))):
        assert bqm.energy(sample) == pytest.approx(3.0 * (sum(sample.values()) - k) ** 2)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_at_most_k_costs_nothing_when_satisfied_and_squared_excess_otherwise(k):
    variables = ["x0", "x1", "x2", "x3", "x4"]
    bqm = at_most_k(variables, k, 2.0, label="lim")
    slack = [v for v in bqm.variables if v not in variables]
    assert all(str(v).startswith("slack_lim_") for v in slack)
    assert len(slack) == (0 if k == 0 else math.floor(math.log2(k)) + 1)  # log2 encoding
    for sample in assignments(variables):
        excess = max(0, sum(sample.values()) - k)
        assert min_over_slack(bqm, sample) == pytest.approx(2.0 * excess**2, abs=TOL)


def test_at_most_k_with_k_at_least_n_is_empty():
    bqm = at_most_k(["a", "b"], 2, 1.0, label="c")
    assert set(bqm.variables) == {"a", "b"} and bqm.num_interactions == 0
    assert bqm.energy({"a": 1, "b": 1}) == 0


def test_capacity_penalises_overload_by_squared_excess():
    weights = {"a": 3, "b": 5, "c": 2, "d": 4}
    bqm = capacity(weights, 7, 1.5, label="bin0")
    for sample in assignments(list(weights)):
        load = sum(weights[v] * x for v, x in sample.items())
        assert min_over_slack(bqm, sample) == pytest.approx(1.5 * max(0, load - 7) ** 2, abs=TOL)


def test_capacity_that_always_holds_adds_nothing():
    bqm = capacity({"a": 1, "b": 2}, 3, 1.0, label="roomy")
    assert bqm.num_interactions == 0 and all(b == 0 for b in bqm.linear.values())


def test_load_balance_equals_squared_deviation_from_mean():
    rng = np.random.default_rng(7)
    groups = {
        "g0": {"a": 1.5, "b": 2.0},
        "g1": {"c": 0.5, "d": 3.0, "e": 1.0},
        "g2": ["f", "a"],  # a shared variable adds to two groups
    }
    bqm = load_balance(groups, strength=0.7)
    variables = sorted(bqm.variables)
    for _ in range(30):
        sample = dict(zip(variables, rng.integers(0, 2, len(variables)).tolist(), strict=True))
        loads = np.array(
            [
                1.5 * sample["a"] + 2.0 * sample["b"],
                0.5 * sample["c"] + 3.0 * sample["d"] + sample["e"],
                sample["f"] + sample["a"],
            ]
        )
        expected = 0.7 * ((loads - loads.mean()) ** 2).sum()
        assert bqm.energy(sample) == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------- auto penalty


def test_auto_penalty_is_one_plus_sum_of_binary_magnitudes():
    binary = dimod.BinaryQuadraticModel({"a": -2.0, "b": 3.0}, {("a", "b"): -4.0}, 10.0, "BINARY")
    assert auto_penalty(binary) == pytest.approx(1 + 2 + 3 + 4)
    spin = binary.change_vartype(dimod.SPIN, inplace=False)
    assert auto_penalty(spin) == pytest.approx(auto_penalty(binary))
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(binary)
    assert auto_penalty(cqm.objective) == pytest.approx(10.0)


def test_auto_penalty_exceeds_the_objective_range():
    rng = np.random.default_rng(3)
    for _ in range(20):
        bqm = dimod.generators.gnp_random_bqm(6, 0.6, "BINARY", random_state=rng.integers(1e6))
        energies = dimod.ExactSolver().sample(bqm).record.energy
        assert auto_penalty(bqm) > energies.max() - energies.min()


def brute_force_optimum(objective, feasible):
    values = [objective.energy(s) for s in assignments(list(objective.variables)) if feasible(s)]
    return min(values)


def check_penalised_optimum(objective, penalty_bqm, feasible):
    """Every ground state of objective + penalty is feasible and equals the constrained optimum."""
    sampleset = EXACT.sample(objective + penalty_bqm)
    ground = sampleset.lowest(atol=1e-6)
    best = brute_force_optimum(objective, feasible)
    assert sampleset.first.energy == pytest.approx(best, abs=1e-6)
    for row in ground.data(["sample"]):
        own = {v: row.sample[v] for v in objective.variables}
        assert feasible(own), own


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["one_hot", "exactly_k", "at_most_k", "capacity"]),
    scale=st.sampled_from([0.01, 1.0, 100.0]),
)
def test_auto_penalty_guarantees_a_feasible_optimum(n, seed, kind, scale):
    rng = np.random.default_rng(seed)
    variables = [f"x{i}" for i in range(n)]
    linear = dict(zip(variables, (scale * rng.normal(size=n)).tolist(), strict=True))
    quadratic = {
        (u, v): float(scale * rng.normal())
        for u, v in itertools.combinations(variables, 2)
        if rng.random() < 0.6
    }
    objective = dimod.BinaryQuadraticModel(linear, quadratic, 0.0, "BINARY")
    strength = auto_penalty(objective)
    k = int(rng.integers(0, n + 1))
    if kind == "one_hot":
        penalty, feasible = one_hot(variables, strength), lambda s: sum(s.values()) == 1
    elif kind == "exactly_k":
        penalty = exactly_k(variables, k, strength)
        feasible = lambda s: sum(s.values()) == k  # noqa: E731
    elif kind == "at_most_k":
        penalty = at_most_k(variables, k, strength, label="c")
        feasible = lambda s: sum(s.values()) <= k  # noqa: E731
    else:
        weights = dict(zip(variables, rng.integers(0, 6, n).tolist(), strict=True))
        limit = int(rng.integers(0, sum(weights.values()) + 1))
        penalty = capacity(weights, limit, strength, label="c")
        feasible = lambda s: sum(weights[v] * x for v, x in s.items()) <= limit  # noqa: E731
    check_penalised_optimum(objective, penalty, feasible)


def test_too_small_a_penalty_can_lose_feasibility():
    """The guarantee is not vacuous: a weak penalty lets the optimum break the constraint."""
    objective = dimod.BinaryQuadraticModel({"a": -5.0, "b": -5.0}, {}, 0.0, "BINARY")
    weak = EXACT.sample(objective + one_hot(["a", "b"], strength=1.0)).first.sample
    assert weak["a"] + weak["b"] == 2
    strong = EXACT.sample(objective + one_hot(["a", "b"], auto_penalty(objective))).first.sample
    assert strong["a"] + strong["b"] == 1


# --------------------------------------------------------------------------- to_bqm / Problem


def small_cqm():
    x = [dimod.Binary(f"x{i}") for i in range(5)]
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(3 * x[0] - 2 * x[1] + 4 * x[2] * x[3] - 1.5 * x[3] - x[4] + x[1] * x[4])
    cqm.add_constraint(x[0] + x[1] + x[2] + x[3] + x[4] <= 2, label="le")
    cqm.add_constraint(2 * x[0] + x[1] + x[2] >= 1, label="ge")
    cqm.add_constraint(x[3] + x[4] == 1, label="eq")
    return cqm


def feasible_in(cqm):
    return lambda sample: all(v <= TOL for v in cqm.violations(sample, clip=True).values())


def test_to_bqm_optimum_matches_enumeration_and_dimod():
    cqm = small_cqm()
    bqm = to_bqm(cqm)
    objective = dimod.BinaryQuadraticModel(dimod.BINARY)
    objective.add_variables_from((v, cqm.objective.get_linear(v)) for v in cqm.variables)
    objective.add_quadratic_from(cqm.objective.iter_quadratic())
    best = brute_force_optimum(objective, feasible_in(cqm))
    ours = EXACT.sample(bqm)
    assert ours.first.energy == pytest.approx(best)
    assert feasible_in(cqm)({v: ours.first.sample[v] for v in cqm.variables})
    penalty = auto_penalty(cqm.objective)
    theirs, _ = dimod.cqm_to_bqm(cqm, lagrange_multiplier=penalty)
    assert EXACT.sample(theirs).first.energy == pytest.approx(best)
    assert sorted(v for v in bqm.variables if str(v).startswith("slack_")) == [
        "slack_ge_0",
        "slack_ge_1",
        "slack_le_0",
        "slack_le_1",
    ]


def test_problem_decode_drops_slack_and_reports_violations():
    cqm = small_cqm()
    problem = Problem.from_cqm(cqm, interpret=lambda s: sorted(v for v in s if s[v]))
    assert problem.penalty == pytest.approx(auto_penalty(cqm.objective))
    best = problem.decode(EXACT.sample(problem.bqm))
    assert isinstance(best, Decoded)
    assert set(best.sample) == set(cqm.variables)
    assert best.feasible and best.violations == []
    assert best.objective == pytest.approx(best.energy)
    assert best.solution == sorted(v for v in best.sample if best.sample[v])

    bad = problem.decode({v: 1 for v in cqm.variables})
    assert not bad.feasible and bad.energy is None
    assert bad.violations == [Violation("le", 3.0), Violation("eq", 1.0)]
    assert bad.objective == pytest.approx(3 - 2 + 4 - 1.5 - 1 + 1)


def test_decode_accepts_a_solve_result_like_object_and_decode_all_sorts():
    problem = Problem.from_cqm(small_cqm())
    sampleset = EXACT.sample(problem.bqm)

    class Result:  # what qcore.solve returns: an object with .sampleset
        pass

    result = Result()
    result.sampleset = sampleset
    assert problem.decode(result).sample == problem.decode(sampleset).sample
    decoded = problem.decode_all(sampleset.truncate(5))
    assert [d.energy for d in decoded] == sorted(d.energy for d in decoded)


def test_spin_cqm_without_constraints_stays_spin():
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(dimod.BinaryQuadraticModel({"a": 1.0}, {("a", "b"): -1.0}, 0.0, "SPIN"))
    problem = Problem.from_cqm(cqm)
    assert problem.bqm.vartype is dimod.SPIN
    assert problem.decode(EXACT.sample(problem.bqm)).sample == {"a": -1, "b": -1}


def test_explicit_penalty_is_used():
    problem = Problem.from_cqm(small_cqm(), penalty=2.0)
    assert problem.penalty == 2.0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: one_hot([], 1.0), "variables: is empty"),
        (lambda: one_hot("abc", 1.0), "variables: expected an iterable"),
        (lambda: one_hot(["a", "a"], 1.0), "appears twice"),
        (lambda: one_hot([["a"]], 1.0), "not hashable"),
        (lambda: one_hot(["a"], float("nan")), "strength: is nan"),
        (lambda: one_hot(["a"], -1.0), "strength: is -1.0"),
        (lambda: one_hot(["a"], "big"), "strength: expected a positive number"),
        (lambda: exactly_k(["a", "b"], 3, 1.0), "k: is 3 but there are only 2"),
        (lambda: exactly_k(["a", "b"], -1, 1.0), "k: is -1"),
        (lambda: exactly_k(["a", "b"], 1.5, 1.0), "scale"),
        (lambda: at_most_k(["a", "b"], 1, 1.0, label=""), "label"),
        (lambda: at_most_k(["a", "slack_c_0"], 1, 1.0, label="c"), "clashes"),
        (lambda: capacity({"a": 1.5, "b": 2}, 2, 1.0, "c"), r"weights\['a'\].*scale"),
        (lambda: capacity({"a": 1, "b": 2}, -1, 1.0, "c"), "capacity: is -1"),
        (lambda: capacity({"a": -1, "b": 2}, 1, 1.0, "c"), r"weights\['a'\]: is -1"),
        (lambda: capacity({"a": float("nan")}, 1, 1.0, "c"), "finite"),
        (lambda: capacity(["a"], 1, 1.0, "c"), "weights: expected a mapping"),
        (lambda: load_balance([], 1.0), "groups: is empty"),
        (lambda: load_balance([{"a": float("nan")}], 1.0), "finite"),
        (lambda: load_balance([[], []], 1.0), "every group is empty"),
        (lambda: load_balance("ab", 1.0), "groups: expected"),
        (lambda: auto_penalty({"a": 1.0}), "objective: expected"),
        (lambda: to_bqm("not a cqm"), "cqm: expected"),
        (lambda: to_bqm(dimod.ConstrainedQuadraticModel()), "no variables"),
        (lambda: to_bqm(small_cqm(), penalty=0), "penalty: is 0.0"),
        (lambda: to_bqm(small_cqm(), penalty="max"), "penalty: is 'max'"),
        (lambda: Problem.from_cqm(small_cqm(), interpret=3), "interpret"),
    ],
)
def test_bad_input_names_the_field(call, match):
    with pytest.raises(InvalidProblem, match=match):
        call()


def test_to_bqm_rejects_fractional_constraints_and_says_to_scale():
    x, y = dimod.Binary("x"), dimod.Binary("y")
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(x + y)
    cqm.add_constraint(0.5 * x + y <= 1, label="frac")
    with pytest.raises(InvalidProblem, match=r"constraint 'frac'.*scale the weights"):
        to_bqm(cqm)


def test_to_bqm_rejects_unsupported_constraints():
    x, y = dimod.Binary("x"), dimod.Binary("y")
    quadratic = dimod.ConstrainedQuadraticModel()
    quadratic.set_objective(x + y)
    quadratic.add_constraint(x * y <= 0, label="q")
    with pytest.raises(InvalidProblem, match="'q': is quadratic"):
        to_bqm(quadratic)
    soft = dimod.ConstrainedQuadraticModel()
    soft.set_objective(x + y)
    soft.add_constraint(x + y <= 1, label="s", weight=2.0)
    with pytest.raises(InvalidProblem, match="'s': is soft"):
        to_bqm(soft)
    never = dimod.ConstrainedQuadraticModel()
    never.set_objective(x + y)
    never.add_constraint(x + y >= 3, label="never")
    with pytest.raises(InvalidProblem, match="'never': can never hold"):
        to_bqm(never)
    integer = dimod.ConstrainedQuadraticModel()
    integer.set_objective(dimod.Integer("i", upper_bound=3) + x)
    with pytest.raises(InvalidProblem, match="INTEGER"):
        to_bqm(integer)
    spin = dimod.ConstrainedQuadraticModel()
    spin.set_objective(dimod.Spin("s") + dimod.Spin("t"))
    spin.add_constraint(dimod.Spin("s") + dimod.Spin("t") == 0, label="sp")
    with pytest.raises(InvalidProblem, match="constraints need BINARY"):
        to_bqm(spin)


def test_always_true_constraint_is_skipped_without_warning():
    x, y = dimod.Binary("x"), dimod.Binary("y")
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(x - y)
    cqm.add_constraint(x + y <= 2, label="always")
    assert set(to_bqm(cqm).variables) == {"x", "y"}  # no slack, no warning (warnings are errors)


def test_decode_rejects_incomplete_or_wrong_samples():
    problem = Problem.from_cqm(small_cqm())
    with pytest.raises(InvalidProblem, match="lacks 1 of the problem's variables"):
        problem.decode({"x0": 0, "x1": 0, "x2": 0, "x3": 0})
    with pytest.raises(InvalidProblem, match=r"sample\['x0'\]: is 2"):
        problem.decode({"x0": 2, "x1": 0, "x2": 0, "x3": 0, "x4": 0})
    with pytest.raises(InvalidProblem, match="expected a mapping"):
        problem.decode([0, 1])
    with pytest.raises(InvalidProblem, match="sampleset: expected"):
        problem.decode_all([0, 1])
