"""The independent checker finds every kind of violation in a tampered schedule."""

from __future__ import annotations

import pandas as pd
import pytest

from qenergy import Cluster, check_schedule, load_jobs, schedule

JOBS = load_jobs(
    [
        {
            "job_id": "a",
            "gpus": 4,
            "duration_s": 100,
            "submit_s": 0,
            "deadline_s": 400,
            "power_w": 2000,
        },
        {
            "job_id": "b",
            "gpus": 4,
            "duration_s": 100,
            "submit_s": 50,
            "deadline_s": 400,
            "power_w": 2000,
        },
        {
            "job_id": "c",
            "gpus": 2,
            "duration_s": 100,
            "submit_s": 0,
            "deadline_s": 400,
            "power_w": 1000,
        },
    ]
)
CLUSTER = Cluster(gpus=8, power_budget_w=4400, idle_w_per_gpu=50)


@pytest.fixture
def good() -> pd.DataFrame:
    result = schedule(JOBS, CLUSTER, method="cpsat", objective="peak")
    assert result.feasible
    return result.to_frame()


def test_good_schedule_passes(good) -> None:
    report = check_schedule(JOBS, CLUSTER, good)
    assert report.feasible and not report.violations


@pytest.mark.parametrize(
    ("job", "column", "value", "words"),
    [
        ("b", "start_s", 10.0, "before its submission"),
        ("a", "end_s", 500.0, "after its deadline"),
        ("a", "end_s", None, "shorter than"),
        ("c", "power_w", 900.0, "uncapped but draws"),
    ],
)
def test_tampered_schedules_fail(good, job: str, column: str, value, words: str) -> None:
    bad = good.copy()
    i = bad.index[bad["job_id"] == job][0]
    if value is None:
        bad.loc[i, "end_s"] = bad.loc[i, "start_s"] + 50
    else:
        bad.loc[i, column] = value
    report = check_schedule(JOBS, CLUSTER, bad)
    assert not report.feasible
    assert any(words in v for v in report.violations), report.violations


def test_overlap_breaks_gpus_and_power(good) -> None:
    bad = good.copy()
    bad["start_s"] = 50.0
    bad["end_s"] = 150.0
    report = check_schedule(JOBS, CLUSTER, bad)
    assert any("GPUs busy" in v for v in report.violations)
    assert any("budget" in v for v in report.violations)


def test_missing_and_duplicate_jobs(good) -> None:
    assert "not scheduled" in check_schedule(JOBS, CLUSTER, good.iloc[:2]).violations[0]
    twice = pd.concat([good, good.iloc[:1]])
    assert not check_schedule(JOBS, CLUSTER, twice).feasible


def test_back_to_back_is_allowed() -> None:
    """A job may start the instant another ends (end events come first)."""
    frame = pd.DataFrame(
        {
            "job_id": ["a", "b", "c"],
            "start_s": [0.0, 100.0, 200.0],
            "end_s": [100.0, 200.0, 300.0],
            "power_w": [2000.0, 2000.0, 1000.0],
            "cap_w": [float("nan")] * 3,
        }
    )
    small = Cluster(gpus=4, power_budget_w=2300, idle_w_per_gpu=50)
    jobs = JOBS.copy()
    jobs.loc[2, "gpus"] = 2
    report = check_schedule(jobs, small, frame)
    assert report.feasible, report.violations
