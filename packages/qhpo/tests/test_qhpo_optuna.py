"""qhpo's optimisers as Optuna samplers: Optuna's own sampler contract, and a shared RDB study."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
from optuna.testing.pytest_samplers import (  # noqa: E402
    BasicSamplerTestCase,
    RelativeSamplerTestCase,
    SingleOnlySamplerTestCase,
)

import qhpo  # noqa: E402
from qhpo.errors import UnknownOptimizer  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TestGPSamplerContract(
    BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase
):
    # a short start-up so the contract's few trials reach the GP itself, not only Sobol
    @pytest.fixture
    def sampler(self) -> Callable[[], optuna.samplers.BaseSampler]:
        return lambda: qhpo.optuna_sampler("gp", seed=0, n_startup=2, n_candidates=64)


@pytest.mark.slow  # the same contract as for gp; the default run keeps the gp one
class TestSobolSamplerContract(
    BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase
):
    @pytest.fixture
    def sampler(self) -> Callable[[], optuna.samplers.BaseSampler]:
        return lambda: qhpo.optuna_sampler("sobol", seed=0)


def test_sampler_is_an_optuna_sampler_and_minimises() -> None:
    sampler = qhpo.optuna_sampler("gp", seed=1)
    assert isinstance(sampler, optuna.samplers.BaseSampler)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1.0) ** 2, n_trials=20)
    assert study.best_value < 0.05


def test_maximize_direction_is_respected() -> None:
    study = optuna.create_study(direction="maximize", sampler=qhpo.optuna_sampler("gp", seed=2))
    study.optimize(lambda t: -((t.suggest_float("x", -5, 5) - 2.0) ** 2), n_trials=20)
    assert study.best_params["x"] == pytest.approx(2.0, abs=0.3)


def test_same_seed_same_trials() -> None:
    def run() -> list[float]:
        study = optuna.create_study(sampler=qhpo.optuna_sampler("gp", seed=3, n_startup=4))
        study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=8)
        return [t.params["x"] for t in study.trials]

    assert run() == run()


def test_unknown_name_fails_at_construction() -> None:
    with pytest.raises(UnknownOptimizer, match="optimizer"):
        qhpo.optuna_sampler("cmaes")


WORKER = textwrap.dedent(
    """
    import sys, optuna, qhpo
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, seed = sys.argv[1], int(sys.argv[2])
    study = optuna.load_study(
        study_name="shared", storage=url, sampler=qhpo.optuna_sampler("gp", seed=seed)
    )
    def objective(trial):
        x = trial.suggest_float("x", -5, 5)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return (x - 1.0) ** 2 + (0.0 if kind == "b" else 1.0)
    study.optimize(objective, n_trials=6)
    """
)


def test_two_processes_share_one_rdb_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(seed)],
            stderr=subprocess.PIPE,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )
        for seed in (0, 1)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    study = optuna.load_study(study_name="shared", storage=url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 12
    assert len({t.number for t in done}) == 12
    # both processes wrote trials, and the GP (fed by both) found the good region
    assert study.best_value < 2.0
