"""The cluster a schedule runs on: GPUs, a power budget, the idle draw of a GPU."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from qenergy.errors import InvalidCluster

__all__ = ["Cluster"]


def _positive(
    value: object, field: str, *, integer: bool = False, allow_zero: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidCluster(f"{field}: expected a number, got {type(value).__name__} ({value!r}).")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise InvalidCluster(f"{field}: {value!r}; it must be a finite number above 0.")
    if integer and value != int(value):
        raise InvalidCluster(f"{field}: {value!r} is not a whole number of GPUs.")
    return value


@dataclass(frozen=True)
class Cluster:
    """``gpus`` in total, a facility ``power_budget_w`` for all of them, ``idle_w_per_gpu``.

    The cluster's power at any moment is ``idle_w_per_gpu * gpus`` plus, for every running
    job, its ``power_w`` minus the idle power of its GPUs (a job's ``power_w`` is its total
    draw, idle part included). ``gpus_per_node`` only numbers GPUs in the output
    (``node/gpu`` ids); scheduling treats the GPUs as one pool.
    """

    gpus: int
    power_budget_w: float
    idle_w_per_gpu: float = 75.0
    gpus_per_node: int = 8
    name: str = "cluster"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InvalidCluster(
                f"name: expected text, got {type(self.name).__name__} ({self.name!r})."
            )
        _positive(self.gpus, "gpus", integer=True)
        _positive(self.power_budget_w, "power_budget_w")
        _positive(self.idle_w_per_gpu, "idle_w_per_gpu", allow_zero=True)
        _positive(self.gpus_per_node, "gpus_per_node", integer=True)
        object.__setattr__(self, "gpus", int(self.gpus))
        object.__setattr__(self, "power_budget_w", float(self.power_budget_w))
        object.__setattr__(self, "idle_w_per_gpu", float(self.idle_w_per_gpu))
        object.__setattr__(self, "gpus_per_node", int(self.gpus_per_node))
        if self.idle_w_per_gpu > 2000:
            raise InvalidCluster(
                f"idle_w_per_gpu: {self.idle_w_per_gpu:g} W per GPU looks like mW or a node "
                "total; give watts per GPU."
            )
        if self.idle_power_w >= self.power_budget_w:
            raise InvalidCluster(
                f"power_budget_w: {self.power_budget_w:g} W does not cover the idle draw of "
                f"{self.gpus} GPUs ({self.idle_power_w:g} W); raise the budget (is it in kW?)."
            )

    @property
    def idle_power_w(self) -> float:
        return self.idle_w_per_gpu * self.gpus

    def to_dict(self) -> dict[str, object]:
        return {
            "gpus": self.gpus,
            "power_budget_w": self.power_budget_w,
            "idle_w_per_gpu": self.idle_w_per_gpu,
            "gpus_per_node": self.gpus_per_node,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: object) -> Cluster:
        if not isinstance(data, dict):
            raise InvalidCluster("cluster: expected an object with gpus and power_budget_w.")
        for need in ("gpus", "power_budget_w"):
            if need not in data:
                raise InvalidCluster(
                    f"cluster: missing {need!r}; e.g. {{'gpus': 64, 'power_budget_w': 30000}}."
                )
        known = {"gpus", "power_budget_w", "idle_w_per_gpu", "gpus_per_node", "name"}
        extra = sorted(set(data) - known)
        if extra:
            raise InvalidCluster(
                f"cluster: unknown key {extra[0]!r}; known keys: {', '.join(sorted(known))}."
            )
        return cls(**data)
