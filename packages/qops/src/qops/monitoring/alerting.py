"""Alert rules and the manager that evaluates them without storms.

A rule turns an observation into "breaching or not": :class:`ThresholdRule` compares with a
bound, :class:`AnomalyRule` asks a streaming detector. The :class:`AlertManager` then decides
what to send:

- ``for_count``: a rule must breach this many evaluations in a row before it fires (Prometheus'
  ``for:``), so one spike does not page;
- deduplication: while an alert is firing, more breaches send nothing;
- ``resolve_count``: it resolves only after this many clean evaluations in a row (hysteresis);
- ``cooldown``: after it resolves, the same alert cannot fire again for this many seconds, so
  a flapping metric sends one alert per cool-down at most, never one per flap.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from qops.detectors.base import StreamingDetector
from qops.errors import InvalidConfig
from qops.monitoring.alert import Alert
from qops.monitoring.notifiers import Notifier
from qops.validation import check_finite_value, check_int, check_number

__all__ = ["AlertManager", "AnomalyRule", "ThresholdRule"]

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass
class ThresholdRule:
    name: str
    metric: str
    comparison: str
    threshold: float
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.comparison not in _COMPARISONS:
            raise InvalidConfig(
                f"comparison: {self.comparison!r}; use one of {', '.join(_COMPARISONS)}."
            )
        self.threshold = check_number("threshold", self.threshold)

    def breaches(self, value: float) -> bool:
        return _COMPARISONS[self.comparison](value, self.threshold)

    def describe(self, value: float) -> str:
        return f"{self.metric} = {value:.6g} {self.comparison} {self.threshold:.6g}"


@dataclass
class AnomalyRule:
    """Breaches when ``detector``'s score of the value is at least ``min_score``."""

    name: str
    metric: str
    detector: StreamingDetector
    min_score: float = 0.99
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    last_score: float = 0.0

    def __post_init__(self) -> None:
        self.min_score = check_number("min_score", self.min_score, low=0.0, high=1.0)

    def breaches(self, value: float) -> bool:
        self.last_score = self.detector.update(value)
        return self.last_score >= self.min_score

    def describe(self, value: float) -> str:
        return f"{self.metric} = {value:.6g} is anomalous (score {self.last_score:.4f})"


Rule = ThresholdRule | AnomalyRule


@dataclass
class _RuleState:
    breaching_run: int = 0
    clean_run: int = 0
    firing: bool = False
    resolved_at: float | None = None
    suppressed: int = 0


class AlertManager:
    def __init__(
        self,
        rules: Iterable[Rule],
        notifiers: Iterable[Notifier],
        for_count: int = 1,
        resolve_count: int = 3,
        cooldown: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.name in self.rules:
                raise InvalidConfig(f"rules: two rules are named {rule.name!r}.")
            self.rules[rule.name] = rule
        self.notifiers = list(notifiers)
        self.for_count = check_int("for_count", for_count, low=1)
        self.resolve_count = check_int("resolve_count", resolve_count, low=1)
        self.cooldown = check_number("cooldown", cooldown, low=0.0)
        self.clock = clock
        self._state = {name: _RuleState() for name in self.rules}
        self.sent: list[Alert] = []

    def firing(self) -> list[str]:
        return [name for name, s in self._state.items() if s.firing]

    def suppressed(self, rule: str) -> int:
        """Breaches that sent nothing (deduplicated or in cool-down)."""
        return self._state[rule].suppressed

    def observe(self, metric: str, value: float) -> list[Alert]:
        """Evaluate every rule on ``metric``; the alerts sent (firing or resolved)."""
        number = check_finite_value(metric, value)
        now = self.clock()
        sent: list[Alert] = []
        for rule in self.rules.values():
            if rule.metric != metric:
                continue
            state = self._state[rule.name]
            if rule.breaches(number):
                state.breaching_run += 1
                state.clean_run = 0
                if state.firing:
                    state.suppressed += 1
                    continue
                cooling = state.resolved_at is not None and now - state.resolved_at < self.cooldown
                if state.breaching_run < self.for_count:
                    continue
                if cooling:
                    state.suppressed += 1
                    continue
                state.firing = True
                sent.append(
                    Alert(
                        rule.name,
                        "firing",
                        rule.severity,
                        number,
                        now,
                        rule.describe(number),
                        dict(rule.labels),
                    )
                )
            else:
                state.breaching_run = 0
                state.clean_run += 1
                if state.firing and state.clean_run >= self.resolve_count:
                    state.firing = False
                    state.resolved_at = now
                    sent.append(
                        Alert(
                            rule.name,
                            "resolved",
                            rule.severity,
                            number,
                            now,
                            f"{rule.metric} back to normal",
                            dict(rule.labels),
                        )
                    )
        for alert in sent:
            for notifier in self.notifiers:
                notifier.notify(alert)
        self.sent.extend(sent)
        return sent
