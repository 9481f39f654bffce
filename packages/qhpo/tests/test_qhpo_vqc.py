"""The Born-machine optimiser and the hybrid (extra ``quantum``): small, simulated circuits."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pennylane")

import qhpo
from qhpo import Categorical, Float, Int, InvalidTrial, Space
from qhpo.optimizers.vqc import VQCOptimizer

SPACE = Space([Float("x", 0, 1), Int("k", 0, 3), Categorical("c", ("a", "b", "c"))])


def f(cfg: dict) -> float:
    return (cfg["x"] - 0.8) ** 2 + 0.1 * abs(cfg["k"] - 1) + (0.0 if cfg["c"] == "c" else 0.3)


def test_grid_round_trip() -> None:
    opt = VQCOptimizer(SPACE, seed=0, max_qubits=6)
    assert opt.bits == [2, 2, 2] and opt.n_qubits == 6
    for index in range(2**opt.n_qubits):
        cfg = opt._config(index)
        assert SPACE.validate(cfg) == cfg
        again = opt._config(opt._index(cfg))
        assert again["k"] == cfg["k"] and again["c"] == cfg["c"]


def test_training_moves_probability_towards_good_trials() -> None:
    opt = VQCOptimizer(SPACE, seed=0, max_qubits=6, steps=10)
    target = opt._index({"x": 0.9, "k": 1, "c": "c"})
    before = float(np.asarray(opt._circuit(opt.theta))[target])
    opt._train(np.array([target]), np.array([1.0]))
    after = float(np.asarray(opt._circuit(opt.theta))[target])
    assert after > 2 * before


def test_vqc_runs_through_minimize() -> None:
    opts = {"max_qubits": 6, "n_startup": 4, "steps": 1, "layers": 1}
    result = qhpo.minimize(f, SPACE, 7, "vqc", seed=0, **opts)
    assert len(result.trials) == 7 and np.isfinite(result.best_value)


@pytest.mark.slow
def test_vqc_and_hybrid_run_and_improve_on_random_start() -> None:
    for name in ("vqc", "hybrid"):
        result = qhpo.minimize(f, SPACE, 14, name, seed=0)
        first = min(t.value for t in result.trials[:8])
        assert result.best_value <= first
        assert len(result.trials) == 14


def test_too_many_qubits_is_refused() -> None:
    space = Space([Categorical(f"c{i}", tuple("abcde")) for i in range(5)])
    with pytest.raises(InvalidTrial, match="max_qubits"):
        VQCOptimizer(space, seed=0)
