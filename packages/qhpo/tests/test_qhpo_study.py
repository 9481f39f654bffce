"""Ask/tell, failed trials, storage, batches and minimize with every classical optimiser."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qhpo
from qhpo import Categorical, Float, Int, InvalidStudyFile, InvalidTrial, Space, Study, TrialState

SPACE = Space([Float("x", -2, 2), Int("k", 0, 5), Categorical("c", ("a", "b", "c"))])


def objective(cfg: dict) -> float:
    return (cfg["x"] - 0.5) ** 2 + 0.1 * abs(cfg["k"] - 3) + (0.0 if cfg["c"] == "b" else 0.5)


@pytest.mark.parametrize("name", ["gp", "random", "sobol"])
def test_minimize_finds_the_optimum_region(name: str) -> None:
    result = qhpo.minimize(objective, SPACE, 30, name, seed=0)
    assert len(result.trials) == 30
    limit = 0.1 if name == "gp" else 0.8
    assert result.best_value < limit
    if name == "gp":
        assert result.best_params["c"] == "b" and result.best_params["k"] == 3


def test_gp_beats_random_on_a_smooth_function() -> None:
    space = Space([Float(f"x{i}", 0, 1) for i in range(3)])

    def f(c: dict) -> float:
        return sum((c[f"x{i}"] - 0.3) ** 2 for i in range(3))

    gp = [qhpo.minimize(f, space, 25, "gp", seed=s).best_value for s in range(3)]
    rnd = [qhpo.minimize(f, space, 25, "random", seed=s).best_value for s in range(3)]
    assert np.median(gp) < np.median(rnd) / 10


def test_same_seed_same_trials() -> None:
    a = qhpo.minimize(objective, SPACE, 14, "gp", seed=5)
    b = qhpo.minimize(objective, SPACE, 14, "gp", seed=5)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]


def test_nan_and_inf_are_failed_trials_not_numbers() -> None:
    def f(cfg: dict) -> float:
        if cfg["x"] < 0:
            return math.nan
        if cfg["k"] == 0:
            return math.inf
        return objective(cfg)

    result = qhpo.minimize(f, SPACE, 20, "gp", seed=1)
    failed = [t for t in result.trials if t.state is TrialState.FAILED]
    assert result.n_failed == len(failed) > 0
    assert all(t.value is None and t.error for t in failed)
    assert math.isfinite(result.best_value)


def test_arithmetic_error_marks_failed() -> None:
    def f(cfg: dict) -> float:
        if cfg["x"] < 0:
            raise FloatingPointError("loss diverged")
        return cfg["x"]

    result = qhpo.minimize(f, Space([Float("x", -1, 1)]), 8, "sobol", seed=0)
    assert any("diverged" in (t.error or "") for t in result.trials)


def test_ask_tell_and_batches_with_pending() -> None:
    study = Study(SPACE, "gp", seed=0, n_startup=4)
    for _ in range(4):
        t = study.ask()
        study.tell(t, objective(t.params))
    batch = study.ask_batch(3)
    assert len({tuple(sorted(t.params.items())) for t in batch}) == 3
    with pytest.raises(InvalidTrial, match="already told"):
        study.tell(0, 1.0)
    with pytest.raises(InvalidTrial, match="real number"):
        study.tell(batch[0], "0.3")
    with pytest.raises(InvalidTrial, match="no trial number"):
        study.tell(99, 1.0)
    with pytest.raises(InvalidTrial, match="positive"):
        study.ask_batch(0)
    for t in batch:
        study.tell(t, objective(t.params))
    assert study.best_value == min(t.value for t in study.completed)


def test_bad_arguments() -> None:
    with pytest.raises(qhpo.UnknownOptimizer, match="optimizer"):
        Study(SPACE, "bayes")
    with pytest.raises(InvalidTrial, match="not accepted"):
        Study(SPACE, "gp", n_candidatez=3)
    with pytest.raises(InvalidTrial, match="n_trials"):
        qhpo.minimize(objective, SPACE, 0)
    with pytest.raises(InvalidTrial, match="seed"):
        Study(SPACE, "gp", seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidTrial, match="no trial has a finite value"):
        qhpo.minimize(lambda c: math.nan, SPACE, 3, "random", seed=0)


def test_file_storage_resumes(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    study = Study(SPACE, "gp", seed=0, storage=path)
    for _ in range(5):
        t = study.ask()
        study.tell(t, objective(t.params))
    again = Study(SPACE, "gp", seed=0, storage=path)
    assert [t.to_json() for t in again.trials] == [t.to_json() for t in study.trials]
    other = Space([Float("y", 0, 1)])
    with pytest.raises(InvalidStudyFile, match="different space"):
        Study(other, storage=path)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InvalidStudyFile, match="not a qhpo study"):
        Study(SPACE, storage=tmp_path / "bad.json")


def test_conditional_space_with_gp() -> None:
    space = Space.from_dict(
        {
            "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
            "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
            "momentum": {"type": "float", "low": 0, "high": 1, "condition": {"opt": ["sgd"]}},
        }
    )

    def f(c: dict) -> float:
        base = (math.log10(c["lr"]) + 2) ** 2
        return base + (abs(c["momentum"] - 0.9) if c["opt"] == "sgd" else 0.3)

    result = qhpo.minimize(f, space, 25, "gp", seed=0)
    assert result.best_value < 0.35


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(["format", "space", "trials", "number", "params", "state", "x"]),
            c,
            max_size=4,
        )
    ),
)


@settings(max_examples=80, deadline=None)
@given(_json)
def test_fuzz_study_file(tmp_path_factory: pytest.TempPathFactory, body: object) -> None:
    path = tmp_path_factory.mktemp("s") / "study.json"
    if isinstance(body, dict):
        body = {"format": "qhpo.study/1", **body}
    path.write_text(json.dumps(body))
    try:
        Study(SPACE, "random", seed=0, storage=path)
    except InvalidStudyFile as exc:
        assert "\n" not in str(exc)
