"""The HPA rule against the Kubernetes docs, the stateful scaler's stabilisation and rate
limits, Holt-Winters forecast scaling (never scaling in on a forecast alone), the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from qops.errors import InvalidConfig, InvalidSeries
from qops.scaling import (
    HoltWintersForecaster,
    HorizontalPodAutoscaler,
    PredictiveScaler,
    ScalingPolicy,
    ScalingRules,
    compare_scalers,
    desired_replicas,
    simulate,
)

# kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#algorithm-details
# "if the current metric value is 200m, and the desired value is 100m, the number of replicas
# will be doubled ... if the current value is instead 50m, you'll halve the number of replicas"
HPA_TABLE = [
    # current, metric, target, expected
    (1, 200, 100, 2),
    (4, 200, 100, 8),
    (4, 50, 100, 2),
    (3, 105, 100, 3),  # ratio 1.05: within the 0.1 tolerance, no change
    (3, 110, 100, 3),  # ratio 1.10: still within (|ratio - 1| <= 0.1)
    (3, 111, 100, 4),  # ratio 1.11: ceil(3.33) = 4
    (10, 91, 100, 10),  # ratio 0.91: within tolerance
    (10, 89, 100, 9),  # ratio 0.89: ceil(8.9) = 9
    (5, 0, 100, 0),  # no load at all: the rule asks for zero (min_replicas clamps it)
    (7, 333, 100, 24),  # ceil(23.31)
]


@pytest.mark.parametrize(("current", "metric", "target", "expected"), HPA_TABLE)
def test_hpa_rule_as_the_kubernetes_docs_state_it(
    current: int, metric: float, target: float, expected: int
) -> None:
    assert desired_replicas(current, metric, target) == expected


def test_hpa_rule_checks_its_inputs() -> None:
    with pytest.raises(InvalidConfig, match="target"):
        desired_replicas(1, 1.0, 0.0)
    with pytest.raises(InvalidConfig, match="metric"):
        desired_replicas(1, float("nan"), 1.0)
    with pytest.raises(InvalidConfig, match="current"):
        desired_replicas(-1, 1.0, 1.0)


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    hpa = HorizontalPodAutoscaler(target=100, max_replicas=50)
    replicas = hpa.recommend(0, 4, 200)  # up at once: no up window by default
    assert replicas == 8
    # load drops; for 300 s the highest recent recommendation (8) holds
    for t in range(15, 300, 15):
        replicas = hpa.recommend(t, replicas, 25)
        assert replicas == 8, t
    # once the 8 is older than 300 s, the recommendations of the low period apply
    assert hpa.recommend(316, replicas, 25) == 2


def test_short_dip_inside_the_window_removes_no_pods() -> None:
    hpa = HorizontalPodAutoscaler(target=100, max_replicas=50)
    replicas = 10
    for t, load in [(0, 100), (15, 20), (30, 20), (45, 100), (60, 100)]:
        replicas = hpa.recommend(t, replicas, load)
        assert replicas == 10


def test_default_scale_up_limit_is_max_of_4_pods_and_100_percent_per_15s() -> None:
    hpa = HorizontalPodAutoscaler(target=10, max_replicas=1000)
    assert hpa.recommend(0, 1, 1000) == 5  # 1 + 4 pods beats 1 * 200 %
    hpa = HorizontalPodAutoscaler(target=10, max_replicas=1000)
    assert hpa.recommend(0, 10, 1000) == 20  # 100 % beats 4 pods
    # within the same 15 s period no more is allowed; after it, another doubling
    assert hpa.recommend(5, 20, 1000) == 20
    assert hpa.recommend(15, 20, 1000) == 40


def test_custom_policies_select_min_and_disabled() -> None:
    slow_up = ScalingRules(
        (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60)), select="Min"
    )
    hpa = HorizontalPodAutoscaler(target=10, max_replicas=100, scale_up=slow_up)
    assert hpa.recommend(0, 10, 100) == 12  # min(10 + 2, ceil(10 * 1.5))
    assert hpa.recommend(30, 12, 100) == 12  # the period's budget is spent
    assert hpa.recommend(61, 12, 100) == 14
    no_down = ScalingRules((), select="Disabled", stabilization=0)
    hpa = HorizontalPodAutoscaler(target=10, max_replicas=100, scale_down=no_down)
    assert hpa.recommend(0, 10, 1) == 10


def test_scale_down_percent_policy_limits_each_period() -> None:
    down = ScalingRules((ScalingPolicy("Percent", 50, 60),), stabilization=0)
    hpa = HorizontalPodAutoscaler(target=100, min_replicas=1, max_replicas=100, scale_down=down)
    assert hpa.recommend(0, 20, 10) == 10  # wants 2, may halve
    assert hpa.recommend(30, 10, 10) == 10  # already halved within this minute
    assert hpa.recommend(61, 10, 10) == 5


def test_min_and_max_replicas_clamp() -> None:
    hpa = HorizontalPodAutoscaler(target=100, min_replicas=2, max_replicas=6)
    assert hpa.recommend(0, 4, 1000) == 6
    hpa = HorizontalPodAutoscaler(
        target=100,
        min_replicas=2,
        max_replicas=6,
        scale_down=ScalingRules((ScalingPolicy("Percent", 100, 15),)),
    )
    assert hpa.recommend(0, 4, 0) == 2
    with pytest.raises(InvalidConfig, match="max_replicas"):
        HorizontalPodAutoscaler(target=1, min_replicas=5, max_replicas=2)


def seasonal_load(cycles: int, season: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(cycles * season)
    return 500 + 400 * np.sin(2 * np.pi * t / season) + rng.normal(0, 10, t.size)


def test_holt_winters_forecasts_the_next_rise() -> None:
    forecaster = HoltWintersForecaster(season_length=24, horizon=4, refit_every=6)
    load = seasonal_load(4)
    for value in load:
        forecaster.observe(value)
    ahead = forecaster.forecast()
    assert ahead is not None and ahead.shape == (4,)
    truth = 500 + 400 * np.sin(2 * np.pi * np.arange(load.size, load.size + 4) / 24)
    assert np.max(np.abs(ahead - truth)) < 60


def test_forecast_never_scales_in_on_its_own_and_forecast_only_does_not_act() -> None:
    def scaler(forecast_only: bool) -> PredictiveScaler:
        hpa = HorizontalPodAutoscaler(target=0.7, max_replicas=100)
        return PredictiveScaler(
            hpa,
            HoltWintersForecaster(24, horizon=4, refit_every=12),
            capacity_target=70.0,
            forecast_only=forecast_only,
        )

    acting, dry = scaler(False), scaler(True)
    replicas_acting = replicas_dry = 10
    forecast_above = False
    for step, value in enumerate(seasonal_load(4)):
        a = acting.decide(step * 15.0, replicas_acting, value)
        d = dry.decide(step * 15.0, replicas_dry, value)
        if a.replicas < replicas_acting:
            assert a.reactive < replicas_acting  # scale-in only when the reactive rule asks
        if d.forecast is not None and d.forecast > d.reactive:
            forecast_above = True
        replicas_acting, replicas_dry = a.replicas, d.replicas
    assert forecast_above  # the forecast did ask for more than the reactive rule at times


def test_forecast_only_applies_the_reactive_answer() -> None:
    hpa_a = HorizontalPodAutoscaler(target=0.7, max_replicas=100)
    hpa_b = HorizontalPodAutoscaler(target=0.7, max_replicas=100)
    dry = PredictiveScaler(
        hpa_a, HoltWintersForecaster(24, horizon=4, refit_every=24), 70.0, forecast_only=True
    )
    replicas_dry = replicas_ref = 10
    for step, value in enumerate(seasonal_load(4)):
        replicas_dry = dry.decide(step * 15.0, replicas_dry, value).replicas
        replicas_ref = hpa_b.recommend(step * 15.0, replicas_ref, value / (100.0 * replicas_ref))
        assert replicas_dry == replicas_ref


def test_simulator_counts_violations_and_replica_hours() -> None:
    load = np.array([10.0, 10.0, 50.0, 50.0, 50.0, 10.0])
    fixed = simulate(
        "fixed",
        load,
        lambda now, asked, value: 2,
        capacity=10.0,
        step_seconds=3600.0,
        startup_steps=0,
        initial_replicas=2,
    )
    assert fixed.slo_violations == 3 and fixed.replica_hours == pytest.approx(12.0)

    # asking for 5 replicas at step 2 with a 2-step start-up leaves steps 2..3 short
    def jump(now: float, asked: int, value: float) -> int:
        return 5 if value > 20 else asked

    late = simulate(
        "late", load, jump, capacity=10.0, step_seconds=3600.0, startup_steps=2, initial_replicas=2
    )
    assert list(late.ready) == [2, 2, 2, 2, 2, 5] and late.slo_violations == 3
    with pytest.raises(InvalidSeries, match="load: empty"):
        simulate("x", np.array([]), jump, capacity=1.0)


def test_predictive_scaling_cuts_violations_on_a_seasonal_trace() -> None:
    load = seasonal_load(6, season=24, seed=1)
    reactive, predictive = compare_scalers(load, capacity=100.0, season_length=24, startup_steps=3)
    assert predictive.slo_violations < reactive.slo_violations
