"""qrouting: token-to-expert routing for mixture-of-experts models.

Balanced where you want it, with a certified gap to the exact optimum.

>>> import numpy as np, qrouting
>>> logits = np.random.default_rng(0).standard_normal((512, 8))
>>> plan = qrouting.route(logits, "balanced", k=2, capacity_factor=1.0)
>>> plan.metrics["max_vio"], plan.metrics["drop_fraction"]
(0.0, 0.0)
"""

from __future__ import annotations

from typing import Any

from qrouting.errors import (
    CapacityError,
    InvalidRouting,
    MissingExtra,
    QroutingError,
    RouterFailed,
    UnknownRouter,
)
from qrouting.plan import RoutingPlan
from qrouting.problem import Locality, RoutingProblem, capacity_for
from qrouting.routers import (
    BalancedRouter,
    BiasRouter,
    ExpertChoiceRouter,
    HashRouter,
    Router,
    SinkhornRouter,
    TopKRouter,
    exact_optimum,
    get_router,
    list_routers,
    route,
)

__version__ = "0.1.0"

_TORCH_NAMES = ("RouterLayer", "MoEBlock", "train_tiny_moe")


def __getattr__(name: str) -> Any:
    """The torch names load torch on first use, so the rest works without the extra."""
    if name in _TORCH_NAMES:
        from qrouting import torch_router

        return getattr(torch_router, name)
    if name in ("QuboRouter", "HybridRouter", "routing_bqm"):
        from qrouting import qubo

        return getattr(qubo, name)
    raise AttributeError(f"module 'qrouting' has no attribute {name!r}")


__all__ = [
    "BalancedRouter",
    "BiasRouter",
    "CapacityError",
    "ExpertChoiceRouter",
    "HashRouter",
    "HybridRouter",
    "InvalidRouting",
    "Locality",
    "MissingExtra",
    "MoEBlock",
    "QroutingError",
    "QuboRouter",
    "Router",
    "RouterFailed",
    "RouterLayer",
    "RoutingPlan",
    "RoutingProblem",
    "SinkhornRouter",
    "TopKRouter",
    "UnknownRouter",
    "capacity_for",
    "exact_optimum",
    "get_router",
    "list_routers",
    "route",
    "routing_bqm",
    "train_tiny_moe",
]
