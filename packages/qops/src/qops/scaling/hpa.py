"""The Kubernetes Horizontal Pod Autoscaler's rule, as the Kubernetes docs state it
(kubernetes.io "Horizontal Pod Autoscaling", algorithm details and configurable scaling
behavior):

- ``desired = ceil(current * metric / target)``; no change while ``|metric/target - 1|`` is
  within the tolerance (0.1);
- scale-down stabilisation: the applied recommendation is the highest one of the last
  ``stabilization_down`` seconds (default 300), so a short dip does not remove pods; scale-up
  has its own window (default 0);
- rate limits (``behavior.scaleUp/scaleDown.policies``): each policy allows a change of
  ``value`` Pods or ``value`` Percent within ``period`` seconds, counted from the replicas at
  the start of that period; ``select`` "Max" takes the policy allowing the most change, "Min"
  the least, "Disabled" allows none. Defaults: up = max(4 Pods, 100 %) per 15 s, down = 100 %
  per 15 s;
- the result is clamped to [min_replicas, max_replicas].
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from qops.errors import InvalidConfig
from qops.validation import check_int, check_number

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "HorizontalPodAutoscaler",
    "ScalingPolicy",
    "ScalingRules",
    "desired_replicas",
]


def desired_replicas(current: int, metric: float, target: float, tolerance: float = 0.1) -> int:
    """``ceil(current * metric / target)``, or ``current`` when the ratio is within tolerance."""
    check_int("current", current, low=0)
    check_number("metric", metric, low=0.0)
    check_number("target", target, low=0.0, low_open=True)
    check_number("tolerance", tolerance, low=0.0)
    ratio = metric / target
    # within the tolerance, boundary included (1e-9 absorbs float noise: 110/100 - 1 > 0.1)
    if abs(ratio - 1.0) <= tolerance + 1e-9:
        return current
    return math.ceil(current * ratio)


@dataclass(frozen=True)
class ScalingPolicy:
    kind: str  # "Pods" or "Percent"
    value: int
    period: float  # seconds

    def __post_init__(self) -> None:
        if self.kind not in ("Pods", "Percent"):
            raise InvalidConfig(f"kind: {self.kind!r}; use 'Pods' or 'Percent'.")
        check_int("value", self.value, low=1)
        check_number("period", self.period, low=0.0, low_open=True)


@dataclass(frozen=True)
class ScalingRules:
    policies: tuple[ScalingPolicy, ...]
    select: str = "Max"
    stabilization: float = 0.0

    def __post_init__(self) -> None:
        if self.select not in ("Max", "Min", "Disabled"):
            raise InvalidConfig(f"select: {self.select!r}; use 'Max', 'Min' or 'Disabled'.")
        check_number("stabilization", self.stabilization, low=0.0)
        if self.select != "Disabled" and not self.policies:
            raise InvalidConfig("policies: at least one policy unless select is 'Disabled'.")


DEFAULT_SCALE_UP = ScalingRules(
    (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0)), "Max", 0.0
)
DEFAULT_SCALE_DOWN = ScalingRules((ScalingPolicy("Percent", 100, 15.0),), "Max", 300.0)


@dataclass
class HorizontalPodAutoscaler:
    """Stateful HPA: call :meth:`recommend` at each sync with the time, the replicas now and
    the metric's current value (average per pod, same unit as ``target``)."""

    target: float
    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = 0.1
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    _recommendations: deque[tuple[float, int]] = field(default_factory=deque, repr=False)
    _events: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        check_number("target", self.target, low=0.0, low_open=True)
        check_int("min_replicas", self.min_replicas, low=1)
        check_int("max_replicas", self.max_replicas, low=self.min_replicas)
        check_number("tolerance", self.tolerance, low=0.0)

    def _stabilised(self, now: float, raw: int, current: int) -> int:
        self._recommendations.append((now, raw))
        keep = max(self.scale_up.stabilization, self.scale_down.stabilization)
        while self._recommendations and now - self._recommendations[0][0] > keep:
            self._recommendations.popleft()
        up_window = [r for t, r in self._recommendations if now - t <= self.scale_up.stabilization]
        down_window = [
            r for t, r in self._recommendations if now - t <= self.scale_down.stabilization
        ]
        # as the HPA controller does: move up only to the lowest recommendation of the up
        # window, and down only to the highest one of the down window
        recommendation = current
        if recommendation < min(up_window):
            recommendation = min(up_window)
        if recommendation > max(down_window):
            recommendation = max(down_window)
        return recommendation

    def _changed_within(self, now: float, period: float, direction: int) -> int:
        return sum(
            delta
            for t, delta in self._events
            if now - t < period and (delta > 0) == (direction > 0)
        )

    def _rate_limited(self, now: float, desired: int, current: int) -> int:
        if desired > current:
            rules = self.scale_up
            if rules.select == "Disabled":
                return current
            limits = []
            for p in rules.policies:
                start = current - self._changed_within(now, p.period, +1)
                limits.append(
                    start + p.value if p.kind == "Pods" else math.ceil(start * (1 + p.value / 100))
                )
            limit = max(limits) if rules.select == "Max" else min(limits)
            return min(desired, limit)
        if desired < current:
            rules = self.scale_down
            if rules.select == "Disabled":
                return current
            limits = []
            for p in rules.policies:
                start = current - self._changed_within(now, p.period, -1)  # deltas < 0
                limits.append(
                    start - p.value if p.kind == "Pods" else math.ceil(start * (1 - p.value / 100))
                )
            limit = min(limits) if rules.select == "Max" else max(limits)
            return max(desired, limit)
        return current

    def recommend(self, now: float, current: int, metric: float) -> int:
        """Replicas to run from ``now`` on (the change is remembered for the rate limits)."""
        check_number("now", now)
        check_int("current", current, low=0)
        raw = desired_replicas(current, metric, self.target, self.tolerance)
        return self.apply(now, current, raw)

    def apply(self, now: float, current: int, raw: int) -> int:
        """Stabilise, rate-limit and clamp a raw recommendation (also used by forecasts)."""
        raw = min(max(raw, self.min_replicas), self.max_replicas)
        stabilised = self._stabilised(now, raw, current)
        limited = self._rate_limited(now, stabilised, current)
        final = min(max(limited, self.min_replicas), self.max_replicas)
        if final != current:
            self._events.append((now, final - current))
        longest = max(
            [p.period for p in (*self.scale_up.policies, *self.scale_down.policies)], default=0.0
        )
        while self._events and now - self._events[0][0] >= longest:
            self._events.popleft()
        return final
