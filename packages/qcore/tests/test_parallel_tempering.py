"""Parallel tempering (``pt``) and the planted Wishart generator."""

import itertools

import dimod
import numpy as np
import pytest

from qcore.errors import InvalidProblem
from qcore.planted import wishart
from qcore.registry import get_solver
from qcore.solvers.base import Deadline
from qcore.solvers.parallel_tempering import parallel_tempering, pt_beta_range
from qcore.testing import SamplerConformance, dimod_kit
from qcore.validation import ising_arrays


class TestParallelTempering(SamplerConformance):
    solver_name = "pt"
    solver_kwargs = {"num_sweeps": 300}
    time_limit_slack = 3.0  # the first call in a process loads the compiled kernel


class TestParallelTemperingNumpy(SamplerConformance):
    solver_name = "pt"
    solver_kwargs = {"num_sweeps": 100, "backend": "numpy"}


TestDimodKitPT = dimod_kit(lambda: get_solver("pt"), "pt")


def test_wishart_planted_state_is_a_ground_state():
    inst = wishart(12, 0.5, seed=3)
    spins = np.array(list(itertools.product([-1, 1], repeat=12)), dtype=np.int8)
    energies = dimod.SampleSet.from_samples_bqm((spins, list(range(12))), inst.bqm).record.energy
    assert energies.min() == pytest.approx(inst.ground_energy, abs=1e-9)
    assert inst.is_ground(inst.bqm.energy(inst.ground_state))
    flipped = {v: -s for v, s in inst.ground_state.items()}
    assert inst.is_ground(inst.bqm.energy(flipped))  # global flip symmetry
    assert inst.bqm.num_interactions == 12 * 11 // 2 and not any(inst.bqm.linear.values())


def test_wishart_planted_state_is_not_a_seeded_solver_s_first_draw():
    inst = wishart(50, 0.75, seed=4)
    first = np.random.default_rng(4).choice(np.array([-1, 1], dtype=np.int8), size=50)
    planted = np.array([inst.ground_state[i] for i in range(50)])
    assert abs(int(first @ planted)) < 30


def test_wishart_is_seeded():
    a, b = wishart(20, 0.75, seed=5), wishart(20, 0.75, seed=5)
    assert a.bqm == b.bqm and a.ground_state == b.ground_state
    assert wishart(20, 0.75, seed=6).bqm != a.bqm


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": 1, "alpha": 0.5}, "n"),
        ({"n": 10, "alpha": 0}, "alpha"),
        ({"n": 10.5, "alpha": 1}, "n"),
    ],
)
def test_wishart_bad_input(kwargs, field):
    with pytest.raises(InvalidProblem, match=field):
        wishart(**kwargs)


def test_pt_finds_the_planted_ground_state_of_a_small_wishart_instance():
    for seed in range(3):
        inst = wishart(40, 0.75, seed=seed)
        ss = get_solver("pt").sample(inst.bqm, num_sweeps=3000, seed=seed)
        assert inst.is_ground(ss.first.energy), seed


def test_pt_numpy_backend_reaches_the_same_energy():
    inst = wishart(24, 1.0, seed=2)
    for backend in ("numba", "numpy"):
        ss = get_solver("pt").sample(inst.bqm, num_sweeps=400, seed=1, backend=backend)
        assert inst.is_ground(ss.first.energy), backend


def test_pt_sweep_count_makes_it_deterministic_and_tracks_energy():
    inst = wishart(30, 0.5, seed=1)
    arrays = ising_arrays(inst.bqm)
    runs = [
        parallel_tempering(
            arrays,
            num_sweeps=200,
            replicas=8,
            sweeps_per_swap=2,
            beta_range=pt_beta_range(arrays),
            seed=4,
            deadline=Deadline(None),
        )
        for _ in range(2)
    ]
    assert runs[0]["best_energy"] == runs[1]["best_energy"]
    assert np.array_equal(runs[0]["states"], runs[1]["states"])
    assert runs[0]["sweeps"] == 200
    # the incrementally tracked energy is the model's energy of the best state
    state = dict(zip(arrays.variables, runs[0]["best_state"].tolist(), strict=True))
    assert inst.bqm.energy(state) == pytest.approx(runs[0]["best_energy"], abs=1e-9)
    assert all(0 <= rate <= 1 for rate in runs[0]["swap_rate"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"replicas": 0}, "replicas"),
        ({"num_sweeps": 1.5}, "num_sweeps"),
        ({"beta_range": [2.0, 1.0]}, "beta_range"),
        ({"backend": "cuda"}, "backend"),
        ({"num_reads": 5, "replicas": 2}, "num_reads"),
    ],
)
def test_pt_bad_arguments(kwargs, field):
    with pytest.raises(InvalidProblem, match=field):
        get_solver("pt").sample(wishart(8, 0.5, seed=0).bqm, **kwargs)
