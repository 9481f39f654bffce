"""Every method on generated instances, each schedule checked by the independent checker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qenergy
from qenergy import (
    Cluster,
    InfeasibleJobs,
    InfeasibleSchedule,
    InvalidCluster,
    InvalidParameter,
    UnknownMethod,
    check_schedule,
    generate_instance,
    schedule,
)
from qenergy.bounds import peak_lower_bound
from qenergy.instance import build_instance
from qenergy.qubo import build_qubo
from qenergy.schedule import schedule_instance

CAPS = (0.85, 0.7)


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, Cluster]:
    return generate_instance(12, seed=3)


def assert_valid(result: qenergy.ScheduleResult, jobs: pd.DataFrame, cluster: Cluster) -> None:
    report = check_schedule(qenergy.load_jobs(jobs), cluster, result.to_frame())
    assert report.feasible, report.violations
    assert result.feasible
    assert result.peak_w == pytest.approx(report.peak_w)
    assert result.peak_w <= cluster.power_budget_w
    frame = result.to_frame()
    assert set(frame["job_id"]) == set(jobs["job_id"])
    assert {"job_id", "start_s", "end_s", "power_w", "cap_w", "gpu_ids"} <= set(frame.columns)
    assert "unassigned" not in set(frame["gpu_ids"])


@pytest.mark.parametrize("objective", ["peak", "energy"])
@pytest.mark.parametrize("method", ["list", "edf", "fcfs", "cpsat", "auto", "qubo", "hybrid"])
@pytest.mark.parametrize("caps", [(), CAPS])
def test_every_method_returns_a_feasible_schedule(small, method: str, objective: str, caps) -> None:
    jobs, cluster = small
    result = schedule(
        jobs, cluster, method=method, objective=objective, caps=caps, seed=1, time_limit=1.0
    )
    assert_valid(result, jobs, cluster)
    if not caps:
        assert result.to_frame()["cap_w"].isna().all()


@pytest.mark.parametrize("objective", ["peak", "energy"])
def test_auto_matches_the_proven_optimum_on_small_instances(objective: str) -> None:
    for seed in range(3):
        jobs, cluster = generate_instance(10, seed=seed)
        inst = build_instance(jobs, cluster, caps=CAPS)
        exact = schedule_instance(inst, "cpsat", objective, time_limit=20.0)
        auto = schedule_instance(inst, "auto", objective)
        heuristic = schedule_instance(inst, "list", objective)
        assert exact.proven_optimal
        assert auto.model_value <= exact.model_value * 1.02
        assert heuristic.model_value >= exact.bound - 1e-6  # the bound is a real bound
        assert auto.gap is not None and auto.gap <= 0.02
        if objective == "peak":  # the energetic bound is a real lower bound
            assert peak_lower_bound(inst) + cluster.idle_power_w <= exact.model_value + 1e-6


def test_caps_lower_the_peak_and_energy(small) -> None:
    jobs, cluster = small
    plain = schedule(jobs, cluster, method="cpsat", objective="peak", time_limit=5.0)
    capped = schedule(jobs, cluster, method="cpsat", objective="peak", caps=CAPS, time_limit=5.0)
    assert capped.peak_w < plain.peak_w
    energy = schedule(jobs, cluster, method="cpsat", objective="energy", caps=CAPS, time_limit=5.0)
    frame = energy.to_frame()
    assert frame["cap_w"].notna().any()  # capping saves energy in this model, so some job is capped
    # a capped job runs longer and draws its cap
    capped_rows = frame[frame["cap_w"].notna()]
    spec = jobs.set_index("job_id").loc[capped_rows["job_id"]]
    assert (
        (capped_rows["end_s"] - capped_rows["start_s"]).to_numpy() > spec["duration_s"].to_numpy()
    ).all()
    assert np.allclose(capped_rows["power_w"], capped_rows["cap_w"] * spec["gpus"].to_numpy())


def test_jobs_that_cannot_meet_their_deadline_are_named() -> None:
    jobs = pd.DataFrame(
        [
            {
                "job_id": "ok",
                "gpus": 1,
                "duration_s": 100,
                "submit_s": 0,
                "deadline_s": 1000,
                "power_w": 500,
            },
            {
                "job_id": "late",
                "gpus": 1,
                "duration_s": 900,
                "submit_s": 500,
                "deadline_s": 1000,
                "power_w": 500,
            },
            {
                "job_id": "wide",
                "gpus": 9,
                "duration_s": 10,
                "submit_s": 0,
                "deadline_s": 1000,
                "power_w": 4500,
            },
            {
                "job_id": "hot",
                "gpus": 8,
                "duration_s": 10,
                "submit_s": 0,
                "deadline_s": 1000,
                "power_w": 5600,
            },
        ]
    )
    cluster = Cluster(gpus=8, power_budget_w=4000, idle_w_per_gpu=70)
    with pytest.raises(InfeasibleJobs) as err:
        schedule(jobs, cluster)
    assert set(err.value.reasons) == {"late", "wide", "hot"}
    assert "only 500 s" in err.value.reasons["late"]
    assert "needs 9 GPUs" in err.value.reasons["wide"]
    assert "over the budget" in err.value.reasons["hot"]
    # a cap can rescue the hot job (70 % of 700 W per GPU fits) but not the others
    with pytest.raises(InfeasibleJobs) as err:
        schedule(jobs, cluster, caps=(0.7,))
    assert set(err.value.reasons) == {"late", "wide"}


def test_jointly_infeasible_jobs_are_named() -> None:
    rows = [
        {
            "job_id": f"j{i}",
            "gpus": 8,
            "duration_s": 600,
            "submit_s": 0,
            "deadline_s": 1000,
            "power_w": 3000,
        }
        for i in range(2)
    ] + [
        {
            "job_id": "free",
            "gpus": 1,
            "duration_s": 60,
            "submit_s": 0,
            "deadline_s": 5000,
            "power_w": 300,
        }
    ]
    cluster = Cluster(gpus=8, power_budget_w=6000, idle_w_per_gpu=70)
    for method in ("auto", "list", "cpsat"):
        with pytest.raises(InfeasibleSchedule) as err:
            schedule(pd.DataFrame(rows), cluster, method=method, time_limit=5.0)
        assert set(err.value.jobs) == {"j0", "j1"}


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"method": "magic"}, UnknownMethod, "method"),
        ({"objective": "cost"}, InvalidParameter, "objective"),
        ({"time_limit": 0}, InvalidParameter, "time_limit"),
        ({"time_limit": True}, InvalidParameter, "time_limit"),
        ({"seed": -1}, InvalidParameter, "seed"),
        ({"caps": (1.2,)}, InvalidParameter, "caps"),
        ({"caps": "0.8"}, InvalidParameter, "caps"),
        ({"cap_slowdown_exponent": -1}, InvalidParameter, "cap_slowdown_exponent"),
    ],
)
def test_bad_parameters(small, kwargs: dict, error: type, words: str) -> None:
    jobs, cluster = small
    with pytest.raises(error, match=words):
        schedule(jobs, cluster, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"gpus": 0, "power_budget_w": 1000}, "gpus"),
        ({"gpus": 2.5, "power_budget_w": 1000}, "gpus"),
        ({"gpus": 8, "power_budget_w": 5.6}, "kW"),  # a budget in kW under the idle draw
        ({"gpus": 8, "power_budget_w": float("inf")}, "power_budget_w"),
        ({"gpus": 8, "power_budget_w": 9000, "idle_w_per_gpu": 70000}, "idle_w_per_gpu"),
    ],
)
def test_bad_cluster(kwargs: dict, words: str) -> None:
    with pytest.raises(InvalidCluster, match=words):
        Cluster(**kwargs)


def test_same_seed_same_schedule(small) -> None:
    jobs, cluster = small
    a = schedule(jobs, cluster, method="hybrid", seed=4, time_limit=1.0).to_frame()
    b = schedule(jobs, cluster, method="list", seed=4).to_frame()
    c = schedule(jobs, cluster, method="list", seed=4).to_frame()
    assert b.equals(c)
    assert len(a) == len(b)


def test_qubo_penalty_free_states_are_feasible(small) -> None:
    """The QUBO's penalties are conservative: the heuristic's state, written in QUBO variables
    where it is on the grid, has no constraint penalty beyond the objective."""
    jobs, cluster = small
    inst = build_instance(jobs, cluster)
    model = build_qubo(inst, "energy", list(range(inst.n)), slots=8)
    assert model.bqm.num_variables > inst.n
    assert all(var.startswith("x_") or "slack" in str(var) for var in model.bqm.variables)


def test_result_outputs(small, tmp_path) -> None:
    jobs, cluster = small
    result = schedule(jobs, cluster, method="list")
    result.to_csv(tmp_path / "s.csv")
    text = result.to_json(tmp_path / "s.json")
    assert '"feasible": true' in text
    again = pd.read_csv(tmp_path / "s.csv")
    assert check_schedule(qenergy.load_jobs(jobs), cluster, again).feasible
    profile = result.power_profile()
    assert profile["power_w"].max() == pytest.approx(result.peak_w)
    assert (profile["gpus"] <= cluster.gpus).all()


@pytest.mark.slow
def test_qaoa_on_a_tiny_instance() -> None:
    """QAOA (qcore's statevector simulation) on two jobs and a 2-step grid: 15 qubits."""
    pytest.importorskip("pennylane")
    jobs, cluster = generate_instance(2, seed=0, gpus=8)
    result = schedule(jobs, cluster, method="qubo", qubo_solver="qaoa", qubo_slots=2, time_limit=60)
    assert result.info["qubo_solver"] == "qaoa" and result.info["qubo_variables"] <= 20
    assert_valid(result, jobs, cluster)


def test_bad_qubo_slots(small) -> None:
    jobs, cluster = small
    with pytest.raises(InvalidParameter, match="qubo_slots"):
        schedule(jobs, cluster, method="qubo", qubo_slots=0)


_values = st.one_of(
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["gpus", "power_budget_w", "idle_w_per_gpu", "gpus_per_node", "name", "x"]),
        _values,
    )
)
def test_fuzz_cluster_loader(data: dict) -> None:
    """Any JSON object: a valid Cluster or an InvalidCluster naming the field, nothing else."""
    try:
        cluster = Cluster.from_dict(data)
    except InvalidCluster:
        return
    assert cluster.gpus >= 1 and cluster.power_budget_w > cluster.idle_power_w
