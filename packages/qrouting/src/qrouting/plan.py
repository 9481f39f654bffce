"""``RoutingPlan``: who goes where, with which gate, and how good and balanced that is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qrouting.errors import InvalidRouting
from qrouting.problem import RoutingProblem


def topk_total(value: np.ndarray, k: int) -> float:
    """Sum over tokens of the ``k`` largest entries (the unconstrained top-k objective)."""
    if k >= value.shape[1]:
        return float(value.sum())
    return float(-np.partition(-value, k - 1, axis=1)[:, :k].sum())


def plan_objective(value: np.ndarray, indices: np.ndarray) -> float:
    """Total ``value`` of the placed (token, expert) pairs; ``-1`` slots count nothing."""
    rows, slots = np.nonzero(indices >= 0)
    return float(value[rows, indices[rows, slots]].sum())


@dataclass
class RoutingPlan:
    """A routing decision.

    ``indices[t, j]`` is the j-th expert of token ``t`` (``-1``: slot dropped) and
    ``gates[t, j]`` its weight (0 where dropped). Width is ``k`` for every router but
    ``expert_choice``, where a token may get more (or fewer) experts than ``k``.
    ``metrics`` holds the numbers below; ``info`` what the router did (solver, gap, winner).
    ``token_ids`` are the problem's token ids (row ``t`` is the token with id
    ``token_ids[t]``), when it had any; the JSON form carries them too.
    """

    indices: np.ndarray
    gates: np.ndarray
    num_experts: int
    k: int
    capacity: int
    router: str
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    token_ids: np.ndarray | None = None

    @property
    def num_tokens(self) -> int:
        return int(self.indices.shape[0])

    @property
    def loads(self) -> np.ndarray:
        """Tokens per expert, ``[E]``."""
        placed = self.indices[self.indices >= 0]
        return np.bincount(placed, minlength=self.num_experts)

    @property
    def placed_per_token(self) -> np.ndarray:
        return (self.indices >= 0).sum(axis=1)

    @property
    def dropped_tokens(self) -> np.ndarray:
        """Indices of tokens that reached no expert at all."""
        return np.nonzero(self.placed_per_token == 0)[0]

    @property
    def short_tokens(self) -> np.ndarray:
        """Indices of tokens that got fewer than ``k`` experts (includes dropped ones)."""
        return np.nonzero(self.placed_per_token < self.k)[0]

    def to_dict(self) -> dict[str, Any]:
        ids = {} if self.token_ids is None else {"token_ids": self.token_ids.tolist()}
        return {
            **ids,
            "router": self.router,
            "num_tokens": self.num_tokens,
            "num_experts": self.num_experts,
            "k": self.k,
            "capacity": self.capacity,
            "indices": self.indices.tolist(),
            "gates": self.gates.tolist(),
            "loads": self.loads.tolist(),
            "dropped_tokens": self.dropped_tokens.tolist(),
            "metrics": {key: _jsonable(v) for key, v in self.metrics.items()},
            "info": {key: _jsonable(v) for key, v in self.info.items()},
        }

    def to_json(self, path: str | Path | None = None, **dump: Any) -> str:
        """The plan as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), **dump)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoutingPlan:
        """A plan from :meth:`to_dict` output; a damaged record is an ``InvalidRouting``."""
        if not isinstance(data, dict):
            raise InvalidRouting(f"plan: expected a JSON object, got {type(data).__name__}.")
        missing = sorted(
            {"router", "num_tokens", "num_experts", "k", "capacity", "indices", "gates"} - set(data)
        )
        if missing:
            raise InvalidRouting(f"plan: fields {missing} are missing; it is not a plan file.")
        for key in ("num_tokens", "num_experts", "k", "capacity"):
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRouting(f"plan.{key}: {value!r}; it must be an integer >= 0.")
        T, E = data["num_tokens"], data["num_experts"]
        try:
            indices = np.asarray(data["indices"], dtype=np.int64)
            gates = np.asarray(data["gates"], dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidRouting(f"plan.indices/gates: not numeric tables ({exc}).") from None
        if indices.ndim != 2 or indices.shape[0] != T or gates.shape != indices.shape:
            raise InvalidRouting(
                f"plan.indices/gates: shapes {indices.shape} and {gates.shape}; both must be "
                f"[num_tokens={T}, width]."
            )
        if indices.size and (indices.min() < -1 or indices.max() >= E):
            raise InvalidRouting(f"plan.indices: entries must be -1 (dropped) or in 0..{E - 1}.")
        ids = None
        if data.get("token_ids") is not None:
            ids = np.asarray(data["token_ids"])
            if ids.dtype.kind not in "iu" or ids.shape != (T,):
                raise InvalidRouting(f"plan.token_ids: expected {T} integers.")
            ids = ids.astype(np.int64)
        metrics, info = data.get("metrics", {}), data.get("info", {})
        if not isinstance(metrics, dict) or not isinstance(info, dict):
            raise InvalidRouting("plan.metrics and plan.info must be objects.")
        return cls(
            indices.reshape(T, -1),
            gates.reshape(T, -1),
            E,
            data["k"],
            data["capacity"],
            str(data["router"]),
            dict(metrics),
            dict(info),
            ids,
        )

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> RoutingPlan:
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidRouting(f"plan: not valid JSON ({exc}).") from None
        return cls.from_dict(data)

    def summary(self) -> str:
        m = self.metrics
        return (
            f"{self.router}: max_vio={m['max_vio']:.4f} drop_fraction={m['drop_fraction']:.4f} "
            f"affinity_retained={m['affinity_retained']:.4f} objective={m['objective']:.6g}"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def build_plan(
    problem: RoutingProblem,
    indices: np.ndarray,
    router: str,
    info: dict[str, Any] | None = None,
    *,
    normalize_gates: bool = False,
) -> RoutingPlan:
    """Gates from the affinities of the chosen experts, and every metric of the issue."""
    indices = np.asarray(indices, dtype=np.int64)
    T, E, k = problem.num_tokens, problem.num_experts, problem.k
    placed = indices >= 0
    rows = np.arange(T)[:, None]
    gates = np.where(placed, problem.affinity[rows, np.maximum(indices, 0)], 0.0)
    if normalize_gates:
        total = gates.sum(axis=1, keepdims=True)
        gates = np.divide(gates, total, out=np.zeros_like(gates), where=total > 0)
    loads = np.bincount(indices[placed], minlength=E)
    mean_load = float(loads.mean())
    max_load = int(loads.max())
    per_token = placed.sum(axis=1)
    short = np.maximum(k - per_token, 0).sum()
    chosen_affinity = (
        float(gates.sum()) if not normalize_gates else plan_objective(problem.affinity, indices)
    )
    metrics: dict[str, float] = {
        "max_load": float(max_load),
        "mean_load": mean_load,
        "max_vio": (max_load / mean_load - 1.0) if mean_load > 0 else 0.0,
        "capacity": float(problem.capacity),
        "over_capacity": float(np.maximum(loads - problem.capacity, 0).sum()),
        "drop_fraction": float(short / (T * k)),
        "tokens_dropped": float((per_token == 0).sum()),
        "affinity_retained": chosen_affinity / max(topk_total(problem.affinity, k), 1e-300),
        "objective": plan_objective(problem.value, indices),
    }
    if problem.locality is not None:
        hop = problem.locality.hop_matrix()
        r, s = np.nonzero(placed)
        h = hop[r, indices[r, s]]
        metrics["cross_node_traffic"] = float((h > 0).sum())
        metrics["cross_node_fraction"] = float((h > 0).mean()) if h.size else 0.0
        metrics["hop_traffic"] = float(h.sum())
    ids = None if problem.token_ids is None else problem.token_ids.copy()
    return RoutingPlan(
        indices, gates, E, k, problem.capacity, router, metrics, dict(info or {}), ids
    )
