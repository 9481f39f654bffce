"""Autoscaling: the Kubernetes HPA rule, forecast-driven scaling and a replay simulator."""

from qops.scaling.forecast import HoltWintersForecaster, PredictiveScaler, ScalingDecision
from qops.scaling.hpa import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HorizontalPodAutoscaler,
    ScalingPolicy,
    ScalingRules,
    desired_replicas,
)
from qops.scaling.simulator import SimulationResult, capacity_for_peak, compare_scalers, simulate

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "HoltWintersForecaster",
    "HorizontalPodAutoscaler",
    "PredictiveScaler",
    "ScalingDecision",
    "ScalingPolicy",
    "ScalingRules",
    "SimulationResult",
    "capacity_for_peak",
    "compare_scalers",
    "desired_replicas",
    "simulate",
]
