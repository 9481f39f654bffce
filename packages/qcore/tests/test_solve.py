"""qcore.solve: fallbacks, budgets and the account of what ran; the registry."""

import time

import dimod
import pytest

import qcore
from qcore import registry
from qcore.errors import (
    AllSolversFailed,
    InvalidProblem,
    SolverTimeout,
    SolverUnavailable,
    UnknownParameter,
    UnknownSolver,
)
from qcore.solvers.base import QcoreSampler
from qcore.testing import random_bqm


class Broken(QcoreSampler):
    name = "broken"
    solver_parameters = {"device": []}

    def _sample(self, bqm, **params):
        raise SolverUnavailable("no device here", extra="imaginary")


class Slow(QcoreSampler):
    name = "slow"

    def _sample(self, bqm, time_limit=None, seed=None):
        time.sleep(0.3)
        raise SolverTimeout("gave up after its budget")


@pytest.fixture(autouse=True)
def _plugins(monkeypatch):
    monkeypatch.setattr(registry, "_runtime", {"broken": Broken, "slow": Slow})


def test_fallback_records_why_each_solver_failed():
    bqm = random_bqm(6, "SPIN", seed=1)
    result = qcore.solve(bqm, "broken", fallback=("exact",))
    assert result.solver == "exact"
    assert result.proven_optimal
    assert [a.solver for a in result.attempts] == ["broken"]
    assert result.attempts[0].error_type == "SolverUnavailable"
    assert "no device" in result.attempts[0].message
    assert "broken: SolverUnavailable" in result.summary()


def test_all_failed_lists_every_attempt():
    with pytest.raises(AllSolversFailed) as info:
        qcore.solve(random_bqm(4, "SPIN", seed=1), "broken", fallback="broken")
    assert len(info.value.attempts) == 2


def test_budget_is_shared_by_fallbacks():
    bqm = random_bqm(4, "SPIN", seed=1)
    with pytest.raises(AllSolversFailed, match="no time left") as info:
        qcore.solve(bqm, "slow", fallback=("broken", "exact"), time_limit=0.1)
    assert [a.error_type for a in info.value.attempts] == ["SolverTimeout"] * 3


def test_bad_input_is_raised_at_once_not_fallen_back():
    nan = dimod.BinaryQuadraticModel({"a": float("nan")}, {}, 0.0, "SPIN")
    with pytest.raises(InvalidProblem, match="finite"):
        qcore.solve(nan, "broken", fallback=("exact",))
    with pytest.raises(InvalidProblem, match="fallback: 5"):
        qcore.solve(random_bqm(4, "SPIN", seed=1), "exact", fallback=5)
    with pytest.raises(UnknownParameter, match="num_sweeps"):
        qcore.solve(random_bqm(4, "SPIN", seed=1), "exact", fallback=("sa",), num_sweeps=5)


@pytest.mark.parametrize("solver", ["exact", "sa", "tabu", "descent", "sb", "auto", "decompose"])
def test_a_model_without_variables_is_solved_to_its_offset(solver):
    # dimod's convention (ExactSolver, dwave-samplers): the one empty assignment, energy = offset
    result = qcore.solve(dimod.BinaryQuadraticModel({}, {}, -3.5, "BINARY"), solver, seed=0)
    assert result.energy == -3.5 and result.sample == {} and result.proven_optimal
    assert result.sampleset.vartype is dimod.BINARY and result.solver == solver


def test_constructor_arguments_are_checked_by_name():
    with pytest.raises(UnknownParameter, match=r"does not take \['foo'\]; it takes no arguments"):
        qcore.get_solver("exact", foo=1)
    with pytest.raises(UnknownParameter, match=r"Sampling parameters go to \.sample\(\)"):
        qcore.get_solver("sa", num_reads=3)


def test_params_go_to_the_first_solver_only():
    # exact does not accept `device`: passing it on would raise UnknownParameter
    result = qcore.solve(
        random_bqm(5, "SPIN", seed=1), "broken", fallback=("exact",), device="qpu-1"
    )
    assert result.solver == "exact"


def test_unknown_solver_names_are_rejected_with_the_list():
    with pytest.raises(InvalidProblem, match="registered solvers"):
        qcore.solve(random_bqm(4, "SPIN", seed=1), "exactt")
    with pytest.raises(InvalidProblem, match="unknown name"):
        qcore.solve(random_bqm(4, "SPIN", seed=1), "exact", fallback=("nope",))
    with pytest.raises(UnknownSolver, match="available names"):
        qcore.get_solver("nope")


def test_registry_lists_builtins_and_reasons():
    infos = {i.name: i for i in qcore.list_solvers()}
    for name in ("exact", "sa", "tabu", "descent", "sb", "auto"):
        assert infos[name].available, infos[name].reason
    assert infos["broken"].available  # registered at run time


def test_import_failure_of_a_plugin_becomes_solver_unavailable(monkeypatch):
    class EntryPoint:
        name = "ghost"
        value = "ghost_pkg:Solver"

        def load(self):
            raise ImportError("No module named 'ghost_pkg'")

    monkeypatch.setattr(registry, "_entry_points", lambda: {"ghost": EntryPoint()})
    with pytest.raises(SolverUnavailable, match="ghost_pkg"):
        qcore.get_solver("ghost")
    info = {i.name: i for i in qcore.list_solvers()}["ghost"]
    assert not info.available and "ghost_pkg" in info.reason


def test_wrong_model_types_get_clear_errors():
    cqm = dimod.ConstrainedQuadraticModel()
    with pytest.raises(InvalidProblem, match="to_bqm"):
        qcore.solve(cqm, "exact")
    qm = dimod.QuadraticModel()
    qm.add_variable("INTEGER", "i")
    with pytest.raises(InvalidProblem, match="INTEGER"):
        qcore.solve(qm, "exact")
    with pytest.raises(InvalidProblem, match="seed"):
        qcore.solve(random_bqm(4, "SPIN", seed=1), "sa", seed="abc")


def test_aligned_state_reads_dicts_and_the_best_of_a_sampleset():
    from qcore.validation import aligned_state

    bqm = dimod.BinaryQuadraticModel({"a": 1.0, "b": -1.0}, {}, 0.0, "SPIN")
    assert aligned_state({"b": 1, "a": -1}, ["a", "b"], "x").tolist() == [-1.0, 1.0]
    ss = dimod.SampleSet.from_samples_bqm([{"a": 1, "b": -1}, {"a": -1, "b": 1}], bqm)
    assert aligned_state(ss, ["a", "b"], "x").tolist() == [-1.0, 1.0]  # the lower energy
    with pytest.raises(InvalidProblem, match="initial_states: its variables"):
        aligned_state({"a": 1}, ["a", "b"], "initial_states")
    with pytest.raises(InvalidProblem, match="warm_start:"):
        aligned_state(object(), ["a"], "warm_start")
