"""Decomposition solver: sub-problems keep the model's energies; bqp250 within 0.5%."""

from __future__ import annotations

from pathlib import Path

import dimod
import numpy as np
import pytest

import qcore
from qcore.bench import BQP_BEST
from qcore.errors import InvalidProblem
from qcore.io import read_beasley as read_beasley_instances
from qcore.solvers.decompose import DecompositionSolver, clamped_subproblem
from qcore.testing import SamplerConformance, assert_sampleset_matches, random_bqm
from qcore.validation import ising_arrays

BQP250 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "bqp" / "bqp250.txt"
BQP250_BEST = BQP_BEST["bqp250"]


def read_beasley(path: Path) -> list[dimod.BinaryQuadraticModel]:
    return [instance.bqm for instance in read_beasley_instances(path)]


needs_bqp = pytest.mark.skipif(
    not BQP250.exists(), reason=f"{BQP250} not present (shared data is not on CI machines)"
)


class TestDecomposeConformance(SamplerConformance):
    solver_name = "decompose"
    solver_kwargs = {"sub_size": 6, "num_repeats": 2}


def test_subproblem_energy_is_full_energy() -> None:
    rng = np.random.default_rng(0)
    bqm = random_bqm(15, "BINARY", seed=3)
    arrays = ising_arrays(bqm)
    J = arrays.J.toarray()
    spins = rng.choice([-1, 1], size=15).astype(np.int8)
    field = arrays.h + J @ spins
    energy = float(arrays.energies(spins[None, :])[0])
    index = np.array([1, 4, 5, 9, 12])
    sub = clamped_subproblem(arrays.h, J, spins, field, index, energy)
    for _ in range(10):
        new = rng.choice([-1, 1], size=index.size)
        full = spins.copy()
        full[index] = new
        expected = float(arrays.energies(full[None, :])[0])
        got = sub.energy({i: int(v) for i, v in enumerate(new)})
        assert got == pytest.approx(expected, abs=1e-9)


def test_sub_solver_alone_improves_and_stays_consistent() -> None:
    bqm = random_bqm(40, "SPIN", seed=11, density=0.2)
    start = {v: 1 for v in bqm.variables}
    ss = DecompositionSolver().sample(
        bqm, sub_size=10, outer_tabu=False, initial_states=start, seed=0, num_repeats=3
    )
    assert_sampleset_matches(ss, bqm)
    assert ss.first.energy < bqm.energy(start)
    assert ss.info["tabu_improvements"] == 0 and ss.info["sub_solves"] > 0


def test_qaoa_sub_solver_touches_a_larger_problem() -> None:
    pytest.importorskip("pennylane")
    bqm = random_bqm(24, "SPIN", seed=12, density=0.3)  # over what one QAOA run takes here
    ss = DecompositionSolver().sample(
        bqm,
        sub_solver="qaoa",
        sub_size=8,
        sub_solver_params={"p": 1, "maxiter": 10, "init": "fixed", "shots": 256},
        outer_tabu=False,
        max_iter=1,
        seed=0,
    )
    assert_sampleset_matches(ss, bqm)
    assert ss.info["sub_solver"] == "qaoa" and ss.info["sub_solves"] == 3


def test_whole_model_fits_one_sub_problem_proves_optimum() -> None:
    bqm = random_bqm(12, "BINARY", seed=13)
    result = qcore.solve(bqm, solver="decompose", seed=0, sub_size=16)
    assert result.proven_optimal
    assert result.energy == pytest.approx(qcore.solve(bqm, solver="exact").energy)


def test_bad_sub_solver_arguments() -> None:
    bqm = random_bqm(5, "SPIN", seed=1)
    with pytest.raises(InvalidProblem, match="sub_solver"):
        DecompositionSolver().sample(bqm, sub_solver="decompose")
    with pytest.raises(InvalidProblem, match="seed"):
        DecompositionSolver().sample(bqm, sub_solver_params={"seed": 1})
    with pytest.raises(InvalidProblem, match="sub_solver: 'no-such-solver'; name a registered"):
        DecompositionSolver().sample(bqm, sub_solver="no-such-solver")
    with pytest.raises(InvalidProblem, match="initial_states"):
        DecompositionSolver().sample(bqm, initial_states={"x": 1})
    with pytest.raises(InvalidProblem, match=r"sub_solver_params: \[1\]; pass a dict"):
        DecompositionSolver().sample(bqm, sub_solver_params=[1])
    with pytest.raises(InvalidProblem, match=r"sub_solver_params \(for 'sa'\): num_reads: 0"):
        DecompositionSolver().sample(bqm, sub_solver="sa", sub_solver_params={"num_reads": 0})
    with pytest.raises(InvalidProblem, match=r"sub_solver_params \(for 'sa'\).*does not accept"):
        DecompositionSolver().sample(bqm, sub_solver="sa", sub_solver_params={"tenure": 3})
    with pytest.raises(InvalidProblem, match="outer_tabu: 1; pass True or False"):
        DecompositionSolver().sample(bqm, outer_tabu=1)


@needs_bqp
def test_bqp250_exact_sub_solver_within_half_percent() -> None:
    bqm = read_beasley(BQP250)[0]
    ss = DecompositionSolver().sample(bqm, sub_solver="exact", sub_size=16, seed=0, num_repeats=3)
    value = -ss.first.energy
    assert value >= BQP250_BEST[0] * (1 - 0.005), (value, BQP250_BEST[0])


@needs_bqp
@pytest.mark.slow
def test_bqp250_all_instances_within_half_percent() -> None:
    for k, bqm in enumerate(read_beasley(BQP250)):
        ss = DecompositionSolver().sample(bqm, sub_solver="exact", sub_size=16, seed=k)
        assert -ss.first.energy >= BQP250_BEST[k] * (1 - 0.005), k
