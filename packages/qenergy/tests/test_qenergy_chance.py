"""Chance-constrained scheduling keeps the peak under the budget with the asked probability."""

from __future__ import annotations

import numpy as np
import pytest

from qenergy import Cluster, InvalidParameter, generate_snapshots
from qenergy.chance import schedule_chance_constrained
from qenergy.predict import ConformalPredictor, LinearPower


def test_chance_constrained_meets_its_probability() -> None:
    data, _ = generate_snapshots(16, seed=9)
    train, cal = data[data["graph"] < 8], data[(data["graph"] >= 8) & (data["graph"] < 12)]
    predictor = ConformalPredictor(LinearPower().fit(train)).calibrate(cal)
    jobs = data[data["graph"] >= 14].head(14).reset_index(drop=True).copy()
    rng = np.random.default_rng(0)
    jobs["duration_s"] = rng.integers(1800, 7200, size=len(jobs)).astype(float)
    jobs["submit_s"] = 0.0
    jobs["deadline_s"] = 40000.0
    jobs["gpus"] = np.minimum(jobs["gpus"], 8)
    nominal = float((predictor.model.predict(jobs)).sum())
    cluster = Cluster(gpus=32, power_budget_w=32 * 60 + 0.45 * nominal, idle_w_per_gpu=60)
    result, report = schedule_chance_constrained(
        jobs.drop(columns=["power_w"]),
        cluster,
        predictor,
        probability=0.9,
        method="list",
        samples=400,
    )
    assert result.feasible
    assert report["estimated_probability"] >= 0.9
    assert report["estimated_probability"] >= report["point_schedule_probability"]
    with pytest.raises(InvalidParameter, match="probability"):
        schedule_chance_constrained(jobs, cluster, predictor, probability=1.0)
