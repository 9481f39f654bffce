"""Token lists (JSON or CSV) plus a model-graph file -> a validated ``RoutingProblem``.

Tokens, JSON: ``{"tokens": [{"id": 7, "device": 0, "logits": [...]}, ...]}`` or the bare
list; use ``"affinity"`` instead of ``"logits"`` for non-negative affinities. ``id`` and
``device`` are optional.

Tokens, CSV: a header row; optional ``id`` and ``device`` columns; every other column is one
expert's score, in order (``logit_0, logit_1, ...`` or ``affinity_0, ...``; the prefix says
which kind, ``logit`` when unsure).

Model graph, JSON::

    {"num_experts": 8, "k": 2, "capacity_factor": 1.25,
     "expert_device": [0, 0, 1, 1, 2, 2, 3, 3],
     "hops": [[0, 1, 2, 2], [1, 0, 2, 2], [2, 2, 0, 1], [2, 2, 1, 0]],
     "cost_per_hop": 0.01, "on_overflow": "drop"}

Everything but ``num_experts`` is optional; ``hops`` defaults to 0 on the same device and
1 elsewhere. Keyword arguments of :func:`load_problem` override the file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from qrouting.errors import InvalidRouting
from qrouting.problem import Locality, RoutingProblem

_GRAPH_KEYS = {
    "num_experts",
    "k",
    "capacity_factor",
    "capacity",
    "expert_device",
    "hops",
    "cost_per_hop",
    "on_overflow",
    "name",
}


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidRouting(f"{what}: file {str(path)!r} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise InvalidRouting(f"{what}: {str(path)!r} is not valid JSON ({exc}).") from None


def load_tokens(path: str | Path) -> dict[str, Any]:
    """Read a token list; returns ``scores [T, E]``, ``scores_are``, ``ids``, ``devices``."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _tokens_csv(path)
    data = _read_json(path, "tokens")
    rows = data.get("tokens") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise InvalidRouting(
            f'tokens: {str(path)!r} holds no token list; expected {{"tokens": [...]}} or a '
            'non-empty list of {"id", "device", "logits"} objects.'
        )
    kinds = {
        "logits" if "logits" in r else "affinity" if "affinity" in r else None
        for r in rows
        if isinstance(r, dict)
    }
    if len(kinds) != 1 or None in kinds or not all(isinstance(r, dict) for r in rows):
        raise InvalidRouting(
            f"tokens: every entry of {str(path)!r} must be an object with a 'logits' list "
            "(or, for all of them, an 'affinity' list)."
        )
    kind = kinds.pop()
    try:
        scores = np.array([r[kind] for r in rows], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRouting(
            f"tokens: {kind} lists in {str(path)!r} must all be numbers of the same length ({exc})."
        ) from None
    ids = [r.get("id") for r in rows]
    devices = [r.get("device") for r in rows]
    return {
        "scores": scores,
        "scores_are": "logits" if kind == "logits" else "affinity",
        "ids": None if any(i is None for i in ids) else np.asarray(ids, dtype=np.int64),
        "devices": None if any(d is None for d in devices) else np.asarray(devices, np.int64),
    }


def _tokens_csv(path: Path) -> dict[str, Any]:
    try:
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            body = [row for row in reader if row]
    except FileNotFoundError:
        raise InvalidRouting(f"tokens: file {str(path)!r} does not exist.") from None
    if not header or not body:
        raise InvalidRouting(f"tokens: {str(path)!r} needs a header row and at least one token.")
    names = [h.strip().lower() for h in header]
    score_cols = [i for i, n in enumerate(names) if n not in ("id", "device")]
    if not score_cols:
        raise InvalidRouting(f"tokens: {str(path)!r} has no score columns (logit_0, ...).")
    kind = "affinity" if names[score_cols[0]].startswith("affinity") else "logits"
    try:
        table = np.array([[float(row[i]) for i in range(len(names))] for row in body])
    except (ValueError, IndexError) as exc:
        raise InvalidRouting(
            f"tokens: {str(path)!r} has a non-numeric or short row ({exc}); every row needs "
            f"{len(names)} numbers."
        ) from None

    def column(name: str) -> np.ndarray | None:
        return table[:, names.index(name)].astype(np.int64) if name in names else None

    return {
        "scores": table[:, score_cols],
        "scores_are": kind,
        "ids": column("id"),
        "devices": column("device"),
    }


def load_graph(path: str | Path) -> dict[str, Any]:
    """Read a model-graph file (see the module docstring) and check its fields."""
    path = Path(path)
    graph = _read_json(path, "graph")
    if not isinstance(graph, dict) or "num_experts" not in graph:
        raise InvalidRouting(f"graph: {str(path)!r} must be an object with at least 'num_experts'.")
    unknown = sorted(set(graph) - _GRAPH_KEYS)
    if unknown:
        raise InvalidRouting(
            f"graph: unknown fields {unknown} in {str(path)!r}; allowed: {sorted(_GRAPH_KEYS)}."
        )
    return graph


def load_problem(
    tokens: str | Path, graph: str | Path | None = None, **overrides: Any
) -> RoutingProblem:
    """A ``RoutingProblem`` from a token file and (optionally) a model-graph file."""
    tok = load_tokens(tokens)
    spec: dict[str, Any] = dict(load_graph(graph)) if graph is not None else {}
    spec.update({key: v for key, v in overrides.items() if v is not None})
    E = tok["scores"].shape[1]
    if "num_experts" in spec and int(spec["num_experts"]) != E:
        raise InvalidRouting(
            f"graph.num_experts: {spec['num_experts']} but the tokens have {E} scores each; "
            "they must agree."
        )
    locality = None
    if "expert_device" in spec:
        if tok["devices"] is None:
            raise InvalidRouting(
                "tokens: the graph places experts on devices, so every token needs a 'device'."
            )
        locality = Locality(
            tok["devices"],
            np.asarray(spec["expert_device"], dtype=np.int64),
            float(spec.get("cost_per_hop", 0.0)),
            spec.get("hops"),
        )
    return RoutingProblem.from_scores(
        tok["scores"],
        int(spec.get("k", 1)),
        float(spec.get("capacity_factor", 1.0)),
        capacity=spec.get("capacity"),
        scores_are=spec.get("scores_are", tok["scores_are"]),
        on_overflow=spec.get("on_overflow", "drop"),
        locality=locality,
        token_ids=tok["ids"],
    )
