"""Contention predictor and adaptive policy: they learn from the simulator, seeded."""

from __future__ import annotations

import numpy as np
import pytest

import qnvlink
from qnvlink import UnknownMethod
from qnvlink.adaptive import make_stream, run_policy
from qnvlink.predictor import FEATURES, ContentionPredictor, make_dataset


def _cases(family: str, seed: int) -> list:
    rng = np.random.default_rng(seed)
    fabric = qnvlink.cluster(family, 2)
    out = []
    for pp, tp, dp in [(1, 8, 2), (2, 4, 2), (2, 8, 1), (2, 2, 4)]:
        job = qnvlink.parallel_3d(
            pp, tp, dp, tp_bytes=float(rng.uniform(1e8, 4e9)), dp_bytes=float(rng.uniform(1e8, 4e9))
        )
        out.append((family, fabric, job))
    return out


@pytest.fixture(scope="module")
def datasets() -> tuple:
    train = make_dataset(_cases("dgx-a100", 0) + _cases("pcie-only", 1), seed=0)
    test = make_dataset(_cases("dgx-h100", 2), seed=50)
    return train, test


def test_dataset_labels_follow_the_simulator(datasets: tuple) -> None:
    train, _ = datasets
    assert train.features.shape[1] == len(FEATURES)
    assert ((train.ratios > 1.2) == train.labels.astype(bool)).all()
    assert 0 < train.labels.mean() < 1


@pytest.mark.parametrize("kind", ["svm", "gbt"])
def test_predictor_beats_chance_on_held_out_fabrics(datasets: tuple, kind: str) -> None:
    train, test = datasets
    model = ContentionPredictor(kind, seed=0).fit(train)
    score = model.score(test)
    base_rate = test.labels.mean()
    assert score["precision"] > base_rate and score["recall"] > 0.5


def test_screened_best_keeps_a_candidate_and_skips_some(datasets: tuple) -> None:
    train, _ = datasets
    model = ContentionPredictor("gbt", seed=0).fit(train)
    fabric = qnvlink.cluster("dgx-h100", 2)
    job = qnvlink.parallel_3d(2, 4, 2, order="pp,dp,tp")
    plan = qnvlink.map_ranks(fabric, job, "best", skip=model)
    assert plan.info["skipped"] and plan.info["winner"] not in plan.info["skipped"]
    assert plan.metrics.sim_time_s is not None


def test_predictor_errors() -> None:
    with pytest.raises(UnknownMethod, match="kind"):
        ContentionPredictor("forest")
    with pytest.raises(UnknownMethod, match="fit"):
        ContentionPredictor("svm").predict(np.zeros((1, len(FEATURES))))


def test_stream_is_seeded_and_policies_are_compared_on_it() -> None:
    a = make_stream(12, nodes=2, seed=3)
    b = make_stream(12, nodes=2, seed=3)
    assert [e.changed for e in a] == [e.changed for e in b]
    assert all(np.array_equal(x.traffic, y.traffic) for x, y in zip(a, b, strict=True))
    never = run_policy(a, "never")
    always = run_policy(a, "always")
    bandit = run_policy(a, "bandit", seed=1)
    assert never.migration_s == 0 and never.actions["remap"] == 1
    for result in (never, always, bandit):
        assert result.total_s == pytest.approx(result.comm_s + result.migration_s)
        assert sum(result.actions.values()) == 12
    assert run_policy(a, "bandit", seed=1).total_s == bandit.total_s  # reproducible
    with pytest.raises(UnknownMethod, match="policy"):
        run_policy(a, "oracle")
    with pytest.raises(UnknownMethod, match="nodes"):
        make_stream(4, nodes=3)
