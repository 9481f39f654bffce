"""Conformance suite that every qcore solver passes (like dimod's ``dimod.testing``).

Use it by subclassing in a test module::

    from qcore.testing import SamplerConformance

    class TestMySolver(SamplerConformance):
        solver_name = "my-solver"          # a registered name
        solver_kwargs = {"num_reads": 4}   # extra keyword arguments for every call

pytest then collects every ``test_*`` method below for that solver. Set ``heuristic = False``
for solvers that must find the optimum on small models, and ``supports_time_limit = False`` for
solvers whose runs cannot be cut short.

dimod's own kit runs beside it: :func:`dimod_kit` builds a ``unittest.TestCase`` with
``dimod.testing.load_sampler_bqm_tests`` (empty, offset-only, one-variable and path models in
every BQM class, through ``sample``, ``sample_ising`` and ``sample_qubo``) and
``dimod.testing.assert_sampler_api``::

    TestMySolverDimodKit = dimod_kit(lambda: get_solver("my-solver"), "my_solver")
"""

from __future__ import annotations

import json
import math
import time
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

import dimod
import dimod.testing
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

    def test_empty_and_offset_only_models_give_the_offset(self) -> None:
        for vartype in ("SPIN", "BINARY"):
            for offset in (0.0, -2.5):
                bqm = dimod.BinaryQuadraticModel({}, {}, offset, vartype)
                ss = self.run(bqm, seed=0)
                assert isinstance(ss, dimod.SampleSet) and ss.vartype is bqm.vartype
                assert len(ss.variables) == 0
                assert len(ss) >= 1, "a model without variables has one (empty) assignment"
                assert all(e == offset for e in ss.record.energy), ss.record.energy
        ising = self.sampler().sample_ising({}, {})
        qubo = self.sampler().sample_qubo({})
        assert ising.vartype is dimod.SPIN and qubo.vartype is dimod.BINARY
        assert set(ising.record.energy) <= {0.0} and set(qubo.record.energy) <= {0.0}

    def test_sampleset_round_trips_through_to_serializable(self) -> None:
        for bqm in (
            random_bqm(8, "SPIN", seed=21),
            dimod.BinaryQuadraticModel({("t", 1): 1.0, "1": -1.0, 1: 0.5}, {}, 2.0, "BINARY"),
            dimod.BinaryQuadraticModel({}, {}, 1.5, "SPIN"),
        ):
            ss = self.run(bqm, seed=1)
            assert dimod.SampleSet.from_serializable(ss.to_serializable()) == ss, (
                f"{self.solver_name}: the SampleSet does not survive to_serializable "
                f"(info {ss.info!r} must hold only lists, dicts, strings and numbers)"
            )
            text = json.dumps(ss.to_serializable())
            assert dimod.SampleSet.from_serializable(json.loads(text)) == ss

    def test_dimod_sampler_api(self) -> None:
        dimod.testing.assert_sampler_api(self.sampler())

    def test_bad_models_rejected(self) -> None:
        nan = dimod.BinaryQuadraticModel({"a": float("nan")}, {}, 0.0, "SPIN")
        inf = dimod.BinaryQuadraticModel(
            {"a": 0.0, "b": 0.0}, {("a", "b"): float("inf")}, 0, "SPIN"
        )
        nan_offset = dimod.BinaryQuadraticModel({}, {}, float("nan"), "SPIN")
        for bad, word in ((nan, "finite"), (inf, "finite"), (nan_offset, "finite")):
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
        for bad in (-1, 0, "soon", "5", float("nan"), float("inf"), True, [1.0]):
            try:
                self.run(bqm, time_limit=bad)
            except InvalidProblem as exc:
                assert "time_limit" in str(exc)
            else:
                raise AssertionError(f"time_limit={bad!r} was accepted")

    def test_bad_seed_rejected(self) -> None:
        bqm = random_bqm(4, "SPIN", seed=7)
        for bad in (-1, 1.5, "7", True):
            try:
                self.run(bqm, seed=bad)
            except InvalidProblem as exc:
                assert "seed" in str(exc)
            else:
                raise AssertionError(f"seed={bad!r} was accepted")


def dimod_kit(factory: Callable[[], dimod.Sampler], name: str) -> type[unittest.TestCase]:
    """A ``unittest.TestCase`` running dimod's own conformance kit against ``factory()``:
    ``dimod.testing.load_sampler_bqm_tests`` and ``dimod.testing.assert_sampler_api``."""

    def make() -> dimod.Sampler:
        return factory()

    make.__name__ = name  # dimod names the generated tests after the factory

    class DimodKit(unittest.TestCase):
        def test_assert_sampler_api(self) -> None:
            dimod.testing.assert_sampler_api(factory())

    DimodKit.__name__ = DimodKit.__qualname__ = f"TestDimodKit_{name}"
    return dimod.testing.load_sampler_bqm_tests(make)(DimodKit)
