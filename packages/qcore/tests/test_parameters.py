"""Every solver parameter is checked at qcore's boundary: a bad value is an InvalidProblem
naming the parameter, never a dependency's traceback and never a silently changed run."""

from __future__ import annotations

import dimod
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcore
from qcore.errors import (
    InvalidProblem,
    ProblemTooLarge,
    SolverTimeout,
    SolverUnavailable,
    UnknownParameter,
)
from qcore.testing import assert_sampleset_matches, random_bqm

BQM = random_bqm(5, "SPIN", seed=3)
SPIN_ZEROS = dict.fromkeys(BQM.variables, 0)  # BINARY values given to a SPIN model
SPIN_THREES = dict.fromkeys(BQM.variables, 3)

BAD = [
    ("exact", {"num_states": 0}, "num_states: 0"),
    ("exact", {"num_states": 1.5}, "num_states: 1.5"),
    ("exact", {"num_states": True}, "num_states: True"),
    ("exact", {"max_variables": 31}, "max_variables: 31"),
    ("exact", {"max_variables": "10"}, "max_variables: '10'"),
    ("sa", {"num_reads": 0}, "num_reads: 0"),
    ("sa", {"num_reads": 2.5}, "num_reads: 2.5"),
    ("sa", {"num_reads": 2**31}, "at most 2,147,483,647"),
    ("sa", {"num_reads": 10**9}, "GiB"),  # 10^9 reads x 5 variables: refused before allocating
    ("sa", {"num_sweeps": 0}, "num_sweeps: 0"),
    ("sa", {"num_sweeps": 2**31}, "num_sweeps"),
    ("sa", {"beta_range": 5}, "beta_range: 5; pass a flat list of finite 2 numbers"),
    ("sa", {"beta_range": [1.0]}, "beta_range: 1 numbers given, expected 2"),
    ("sa", {"beta_range": [1, 2, 3]}, "beta_range: 3 numbers given"),
    ("sa", {"beta_range": [-1, 2]}, "must be > 0"),
    ("sa", {"beta_range": [float("nan"), 1.0]}, "finite"),
    ("sa", {"beta_range": "ab"}, "beta_range: 'ab'"),
    ("sa", {"beta_range": [[1, 2]]}, "beta_range"),
    ("sa", {"beta_schedule_type": "custom"}, "beta_schedule_type: 'custom'; use one of"),
    ("sa", {"beta_schedule_type": "Linear"}, "beta_schedule_type"),
    ("sa", {"initial_states": 5}, "initial_states"),
    ("sa", {"initial_states": {"a": 1}}, "initial_states: its variables do not match"),
    ("sa", {"initial_states": SPIN_THREES}, "initial_states: values [3]"),
    ("sa", {"initial_states": SPIN_ZEROS}, "initial_states: values [0] are not SPIN values"),
    ("tabu", {"tenure": -1}, "tenure: -1; it must be an integer >= 0"),
    ("tabu", {"tenure": 1.5}, "tenure: 1.5"),
    ("tabu", {"tenure": 5}, "tenure: 5; it must be below the number of variables (5)"),
    ("tabu", {"timeout": 0}, "timeout: 0"),
    ("tabu", {"timeout": -5}, "timeout: -5"),  # dwave-samplers would run for ever
    ("tabu", {"timeout": 1.5}, "timeout: 1.5"),
    ("tabu", {"timeout": 2**31}, "timeout"),
    ("tabu", {"timeout": 10, "time_limit": 1.0}, "timeout and time_limit: give one"),
    ("tabu", {"num_restarts": -1}, "num_restarts: -1"),
    ("tabu", {"initial_states": SPIN_ZEROS}, "initial_states"),
    ("descent", {"num_reads": 0}, "num_reads: 0"),
    ("descent", {"initial_states": [[1, 1]]}, "initial_states: its variables do not match"),
    ("sb", {"num_reads": 300, "agents": 128}, "num_reads: 300 but agents=128"),
    ("sb", {"dt": True}, "dt: True"),
    ("sb", {"dt": 5.0}, "dt: 5.0"),
    ("sb", {"c0": -1}, "c0: -1"),
    ("sb", {"c0": float("nan")}, "c0: nan"),
    ("sb", {"c0": "x"}, "c0: 'x'"),
    ("sb", {"device": 5}, "device: 5"),
    ("sb", {"device": "gpu0", "backend": "torch"}, "device: 'gpu0' is not a torch device"),
    ("sb", {"backend": "jax"}, "backend: 'jax'"),
    ("sb", {"patience": 0}, "patience: 0"),
    ("sb", {"variant": ["discrete"]}, "variant"),
    ("auto", {"exact_limit": True}, "exact_limit: True"),
    ("auto", {"exact_limit": 27}, "exact_limit: 27"),
    ("auto", {"progress": 1}, "progress: 1; pass True or False"),
    ("auto", {"members": []}, "members"),
    ("auto", {"members": ["sa", 3]}, "members"),
    ("auto", {"workers": 1.5}, "workers: 1.5"),
    ("decompose", {"sub_solver": 3}, "sub_solver: 3"),
    ("decompose", {"sub_size": 0}, "sub_size: 0"),
    ("decompose", {"sub_solver_params": {"time_limit": 1}}, "'time_limit' cannot be given here"),
    ("decompose", {"sub_solver_params": {1: 2}}, "are not parameter names"),
]


@pytest.mark.parametrize(("solver", "kwargs", "match"), BAD, ids=lambda v: repr(v)[:40])
def test_bad_values_are_named_before_any_dependency_sees_them(solver, kwargs, match):
    with pytest.raises(InvalidProblem) as info:
        qcore.get_solver(solver).sample(BQM, **kwargs)
    assert match in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


EMPTY_MODEL_CASES = [
    case for case in BAD if not {"initial_states", "tenure"} & set(case[1]) and "GiB" not in case[2]
]


@pytest.mark.parametrize(
    ("solver", "kwargs", "match"), EMPTY_MODEL_CASES, ids=lambda v: repr(v)[:40]
)
def test_bad_values_are_rejected_for_empty_models_too(solver, kwargs, match):
    # the empty model needs no solving, but a bad parameter is still the caller's mistake
    with pytest.raises(InvalidProblem) as info:
        qcore.get_solver(solver).sample(dimod.BinaryQuadraticModel("SPIN"), **kwargs)
    assert match in str(info.value), str(info.value)


def test_sb_num_reads_above_the_default_agent_count_gets_that_many_rows():
    ss = qcore.get_solver("sb").sample(BQM, num_reads=300, max_steps=100, seed=0)
    assert len(ss) == 300 and ss.info["agents"] == 300  # one read per agent
    assert_sampleset_matches(ss, BQM)
    assert len(qcore.get_solver("sb").sample(BQM, num_reads=3, agents=16, seed=0)) == 3


def test_sa_accepts_valid_schedule_and_initial_states():
    ss = qcore.get_solver("sa").sample(
        BQM,
        num_reads=2,
        num_sweeps=50,
        beta_range=(0.1, 5),
        beta_schedule_type="linear",
        initial_states=[dict.fromkeys(BQM.variables, 1)] * 2,
        seed=1,
    )
    assert_sampleset_matches(ss, BQM)


def test_time_limit_true_is_not_one_second():
    for solver in ("exact", "sa", "tabu", "sb", "auto"):
        with pytest.raises(InvalidProblem, match="time_limit: True"):
            qcore.get_solver(solver).sample(BQM, time_limit=True)
    with pytest.raises(InvalidProblem, match="time_limit: True"):
        qcore.solve(BQM, "exact", time_limit=True)


# Random values for every parameter: the outcome is a correct SampleSet or one of qcore's own
# errors, whatever the value (a TypeError or ValueError from dwave-samplers, numpy or scipy
# fails the test).
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.sampled_from([2**31, 2**63, -(2**40)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.one_of(st.integers(-2, 3), st.floats(-2, 3), st.text(max_size=2)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-1, 3), max_size=2),
    st.sampled_from(["geometric", "linear", "ballistic", "discrete", "numpy", "torch", "cpu"]),
)
FUZZED = ["exact", "sa", "tabu", "descent", "sb", "pt", "decompose", "auto"]
ALLOWED = (InvalidProblem, UnknownParameter, ProblemTooLarge, SolverTimeout, SolverUnavailable)


@pytest.mark.parametrize("solver", FUZZED)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_parameter_value_gives_a_correct_answer_or_a_qcore_error(solver, data):
    sampler = qcore.get_solver(solver)
    names = sorted(set(sampler.parameters) - {"time_limit", "seed"})
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=3), label="names")
    kwargs = {name: data.draw(VALUES, label=name) for name in chosen}
    if solver == "auto":
        kwargs.setdefault("exact_limit", 0)
        kwargs.setdefault("workers", 1)
    bqm = random_bqm(5, data.draw(st.sampled_from(["SPIN", "BINARY"])), seed=1)
    try:
        ss = sampler.sample(bqm, seed=0, time_limit=0.3, **kwargs)
    except ALLOWED as exc:
        assert "\n" not in str(exc)
        return
    assert_sampleset_matches(ss, bqm)
