"""Conformance suite that every qcore solver passes (like dimod's ``dimod.testing``).

Use it by subclassing in a test module::

    from qcore.testing import SamplerConformance

    class TestMySolver(SamplerConformance):
        solver_name = "my-solver"          # a registered name
        solver_kwargs = {"num_reads": 4}   # extra keyword arguments for every call

pytest then collects every ``test_*`` method below for that solver. Set ``heuristic = False``
for solvers that must find the optimum on small models, and ``supports_time_limit = False`` for
solvers whose runs cannot be cut short.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import dimod
import numpy as np
from dimod.testing import assert_sampleset_energies

from qcore.errors import InvalidProblem, SolverTimeout, UnknownParameter
from qcore.registry import get_solver

TOL = 1e-6


def random_bqm(num_variables: int, vartype: str, seed: int, density: float = 0.6):
    """A seeded random BQM with integer-valued biases (so optima are well separated)."""
    rng = np.random.default_rng(seed)
    bqm = dimod.BinaryQuadraticModel(vartype)
    for v in range(num_variables):
        bqm.add_variable(v, float(rng.integers(-3, 4)))
    for u in range(num_variables):
        for v in range(u + 1, num_variables):
            if rng.random() < density:
                bqm.add_interaction(u, v, float(rng.integers(-3, 4)))
    bqm.offset = float(rng.integers(-5, 6))
    return bqm


def brute_force_minimum(bqm: dimod.BinaryQuadraticModel) -> float:
    return float(dimod.ExactSolver().sample(bqm).first.energy)


def assert_sampleset_matches(sampleset: dimod.SampleSet, bqm: dimod.BinaryQuadraticModel) -> None:
    """The samples have the model's variables and vartype, and energies equal the model's."""
    assert isinstance(sampleset, dimod.SampleSet), f"expected a SampleSet, got {type(sampleset)}"
    assert len(sampleset) > 0, "the SampleSet is empty"
    assert sampleset.vartype is bqm.vartype, (
        f"vartype {sampleset.vartype.name} differs from the model's {bqm.vartype.name}"
    )
    assert set(sampleset.variables) == set(bqm.variables), "variables differ from the model's"
    allowed = {-1, 1} if bqm.vartype is dimod.SPIN else {0, 1}
    assert set(np.unique(sampleset.record.sample).tolist()) <= allowed, "values outside vartype"
    assert_sampleset_energies(sampleset, bqm, precision=6)


class SamplerConformance:
    """Mixin of conformance tests; see the module docstring."""

    solver_name: ClassVar[str] = ""
    solver_kwargs: ClassVar[dict[str, Any]] = {}
    heuristic: ClassVar[bool] = True  # may miss the optimum on hard instances
    supports_time_limit: ClassVar[bool] = True
    time_limit_slack: ClassVar[float] = 1.0  # seconds allowed past the limit (teardown, JIT)
    large_problem_size: ClassVar[int] = 400  # for the time-limit check
    max_variables: ClassVar[int | None] = None  # size cap of the solver, if any

    def sampler(self) -> dimod.Sampler:
        return get_solver(self.solver_name)

    def run(self, bqm: dimod.BinaryQuadraticModel, **kwargs: Any) -> dimod.SampleSet:
        return self.sampler().sample(bqm, **{**self.solver_kwargs, **kwargs})

    def test_energies_match_model_spin(self) -> None:
        bqm = random_bqm(8, "SPIN", seed=1)
        assert_sampleset_matches(self.run(bqm, seed=3), bqm)

    def test_energies_match_model_binary(self) -> None:
        bqm = random_bqm(8, "BINARY", seed=2)
        assert_sampleset_matches(self.run(bqm, seed=3), bqm)

    def test_string_labels_and_offset(self) -> None:
        bqm = dimod.BinaryQuadraticModel(
            {"a": 1.0, "b": -2.0, ("x", 1): 0.5},
            {("a", "b"): -1.0, ("b", ("x", 1)): 2.0},
            7.5,
            "BINARY",
        )
        ss = self.run(bqm, seed=0)
        assert_sampleset_matches(ss, bqm)
        assert math.isclose(ss.first.energy, brute_force_minimum(bqm), abs_tol=TOL)

    def test_finds_optimum_of_small_model(self) -> None:
        for seed in range(3):
            bqm = random_bqm(10, "SPIN", seed=10 + seed)
            ss = self.run(bqm, seed=seed)
            assert math.isclose(ss.first.energy, brute_force_minimum(bqm), abs_tol=TOL), (
                f"{self.solver_name} missed the optimum of a 10-variable model (seed {seed})"
            )

    def test_non_heuristic_solver_finds_optimum_of_larger_model(self) -> None:
        if self.heuristic:
            return
        bqm = random_bqm(18, "BINARY", seed=31, density=0.4)
        assert math.isclose(self.run(bqm).first.energy, brute_force_minimum(bqm), abs_tol=TOL)

    def test_single_variable(self) -> None:
        bqm = dimod.BinaryQuadraticModel({"only": 2.0}, {}, 0.0, "SPIN")
        ss = self.run(bqm, seed=0)
        assert_sampleset_matches(ss, bqm)
        assert ss.first.sample["only"] == -1

    def test_seed_reproduces(self) -> None:
        bqm = random_bqm(20, "SPIN", seed=4, density=0.3)
        a = self.run(bqm, seed=123)
        b = self.run(bqm, seed=123)
        assert a.first.energy == b.first.energy
        order = list(bqm.variables)
        assert [a.first.sample[v] for v in order] == [b.first.sample[v] for v in order]

    def test_time_limit_honoured(self) -> None:
        if not self.supports_time_limit:
            return
        n = self.large_problem_size if self.max_variables is None else self.max_variables
        bqm = random_bqm(n, "SPIN", seed=5, density=0.05)
        limit = 0.5
        start = time.perf_counter()
        try:
            ss = self.run(bqm, seed=0, time_limit=limit)
        except SolverTimeout:  # stopping without an answer also honours the limit
            ss = None
        took = time.perf_counter() - start
        if ss is not None:
            assert_sampleset_matches(ss, bqm)
        assert took < limit + self.time_limit_slack, (
            f"{self.solver_name} took {took:.2f} s with time_limit={limit}"
        )

    def test_unknown_parameter_rejected(self) -> None:
        bqm = random_bqm(4, "SPIN", seed=6)
        try:
            self.run(bqm, definitely_not_a_parameter=1)
        except UnknownParameter as exc:
            assert "definitely_not_a_parameter" in str(exc)
        else:
            raise AssertionError("an unknown keyword argument was accepted silently")

    def test_bad_models_rejected(self) -> None:
        nan = dimod.BinaryQuadraticModel({"a": float("nan")}, {}, 0.0, "SPIN")
        inf = dimod.BinaryQuadraticModel(
            {"a": 0.0, "b": 0.0}, {("a", "b"): float("inf")}, 0, "SPIN"
        )
        empty = dimod.BinaryQuadraticModel("BINARY")
        for bad, word in ((nan, "finite"), (inf, "finite"), (empty, "no variables")):
            try:
                self.run(bad)
            except InvalidProblem as exc:
                assert word in str(exc), str(exc)
            else:
                raise AssertionError(f"{self.solver_name} accepted a bad model ({word})")
        try:
            self.run({"a": 1.0})  # type: ignore[arg-type]
        except InvalidProblem as exc:
            assert "BinaryQuadraticModel" in str(exc)
        else:
            raise AssertionError(f"{self.solver_name} accepted a dict instead of a BQM")

    def test_bad_time_limit_rejected(self) -> None:
        bqm = random_bqm(4, "SPIN", seed=7)
        for bad in (-1, 0, "soon", float("nan")):
            try:
                self.run(bqm, time_limit=bad)
            except InvalidProblem as exc:
                assert "time_limit" in str(exc)
            else:
                raise AssertionError(f"time_limit={bad!r} was accepted")
