"""The balancers and the simulated pool they are measured on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qensemble.balancer import MultiFactorBalancer, RoundRobinBalancer, make_balancer
from qensemble.errors import InvalidParameter
from qensemble.simulate import simulate_pool


def test_round_robin_cycles_over_live_workers() -> None:
    rr = RoundRobinBalancer(3)
    assert [rr.choose() for _ in range(4)] == [0, 1, 2, 0]
    assert rr.choose(live=[0, 2]) == 2
    assert rr.choose(live=[0, 2], exclude=[0]) == 2


def test_multi_factor_learns_speed_success_and_load() -> None:
    mf = MultiFactorBalancer(3)
    for w, seconds in ((0, 1.0), (1, 4.0), (2, 1.0)):
        mf.started(w)
        mf.finished(w, seconds, ok=True)
    assert mf.choose() == 0  # fastest, ties to the lower index
    mf.started(0)
    assert mf.choose() == 2  # 0 is now loaded
    for _ in range(10):  # success rate 2/13: below worker 1's rate of useful work
        mf.started(2)
        mf.finished(2, 1.0, ok=False)
    mf.finished(0, 1.0, ok=True)
    assert mf.choose() == 0 and mf.choose(exclude=[0]) == 1  # 2 keeps failing
    assert mf.choose(live=[0], exclude=[0]) == 0  # nowhere else to go


def test_capability_stands_in_for_speed_until_timings_arrive() -> None:
    mf = MultiFactorBalancer(2, capability=[1.0, 4.0])
    assert mf.choose() == 1
    with pytest.raises(InvalidParameter, match=r"^capability: "):
        MultiFactorBalancer(2, capability=[1.0, 0.0])
    with pytest.raises(InvalidParameter, match=r"^balancer: unknown"):
        make_balancer("random", 2)
    with pytest.raises(InvalidParameter, match=r"^live: no live worker"):
        mf.choose(live=[])


def test_simulation_multi_factor_beats_round_robin_on_unequal_workers() -> None:
    kw = {"speeds": [4, 2, 1, 0.5], "n_tasks": 300, "seed": 3}
    rr = simulate_pool("round_robin", **kw)
    mf = simulate_pool("multi_factor", **kw)
    assert mf.makespan < rr.makespan and mf.mean_latency < rr.mean_latency
    assert sum(mf.per_worker) == sum(rr.per_worker) == 300
    assert mf.per_worker[0] > mf.per_worker[3]


def test_simulation_moves_work_off_a_dead_worker() -> None:
    report = simulate_pool("multi_factor", [1, 1, 1], n_tasks=200, die_at={0: 5.0}, seed=1)
    assert sum(report.per_worker) == 200 and report.retries >= 0
    with pytest.raises(InvalidParameter, match=r"^die_at: "):
        simulate_pool("round_robin", [1, 1], die_at={0: 1.0, 1: 2.0})
    with pytest.raises(InvalidParameter, match=r"^speeds: "):
        simulate_pool("round_robin", [1, -1])
    with pytest.raises(InvalidParameter, match=r"^failure_rates: "):
        simulate_pool("round_robin", [1, 1], failure_rates=[0.5, 1.0])


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.2, 5.0), min_size=1, max_size=5),
    st.integers(0, 1000),
    st.sampled_from(["round_robin", "multi_factor"]),
)
def test_simulation_completes_every_task_once(speeds: list[float], seed: int, name: str) -> None:
    fail = [0.2] + [0.0] * (len(speeds) - 1)
    report = simulate_pool(name, speeds, failure_rates=fail, n_tasks=60, seed=seed)
    assert sum(report.per_worker) == 60
    assert report.makespan > 0 and report.p95_latency >= 0
