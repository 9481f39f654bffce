"""Token lists (JSON or CSV) plus a model-graph file -> a validated ``RoutingProblem``.

Tokens, JSON: ``{"tokens": [{"id": 7, "device": 0, "logits": [...]}, ...]}`` or the bare
list; use ``"affinity"`` instead of ``"logits"`` for non-negative affinities (one kind for
every token). ``id`` (a unique integer per token) and ``device`` (an integer >= 0) are
optional, but given for every token or for none.

Tokens, CSV: a header row; optional ``id`` and ``device`` columns; every other column is one
expert's score, in order. Score columns are all ``logit_*`` (or unprefixed: logits) or all
``affinity_*``; every row has exactly as many cells as the header.

Model graph, JSON::

    {"num_experts": 8, "k": 2, "capacity_factor": 1.25,
     "expert_device": [0, 0, 1, 1, 2, 2, 3, 3],
     "hops": [[0, 1, 2, 2], [1, 0, 2, 2], [2, 2, 0, 1], [2, 2, 1, 0]],
     "cost_per_hop": 0.01, "on_overflow": "drop"}

Everything but ``num_experts`` is optional; ``hops`` defaults to 0 on the same device and
1 elsewhere, and both it and ``cost_per_hop`` need ``expert_device``. Keyword arguments of
:func:`load_problem` override the file.

Nothing is coerced: a float where an integer belongs (``"k": 1.5``, ``"id": 3.0``), a string
where a number belongs, an unknown field, an extra CSV cell, duplicate ids or negative
devices are each an ``InvalidRouting`` naming the field (or the file and line) and the fix.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
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
_TOKEN_KEYS = {"id", "device", "logits", "affinity"}
_OVERRIDES = {"k", "capacity_factor", "capacity", "on_overflow", "scores_are", "cost_per_hop"}
_INT64 = (-(2**63), 2**63 - 1)
_CSV_INTEGER = re.compile(r"[+-]?[0-9]+")
_CSV_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _read_text(path: Path, what: str) -> str:
    """The file as text, or an ``InvalidRouting`` saying why it cannot be read."""
    if path.is_dir():
        raise InvalidRouting(f"{what}: {str(path)!r} is a folder; pass the file inside it.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidRouting(f"{what}: file {str(path)!r} does not exist.") from None
    except OSError as exc:
        raise InvalidRouting(f"{what}: cannot read {str(path)!r} ({exc.strerror}).") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRouting(
            f"{what}: {str(path)!r} is not UTF-8 text (byte {exc.start}); it looks like a "
            "binary file. Pass a text file (see the formats in qrouting.loader)."
        ) from None
    if "\x00" in text:
        raise InvalidRouting(
            f"{what}: {str(path)!r} contains NUL bytes; it looks like a binary file."
        )
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidRouting(f"{what}: {str(path)!r} is not valid JSON ({exc}).") from None
    except ValueError as exc:  # NaN / Infinity literals
        raise InvalidRouting(f"{what}: {str(path)!r}: {exc}; write finite numbers.") from None
    except RecursionError:
        raise InvalidRouting(f"{what}: {str(path)!r} is nested too deeply.") from None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond the float range
        return False


def _is_int(value: Any, low: int = _INT64[0]) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= _INT64[1]


def _check_ids(ids: list[int], where: list[str]) -> None:
    first: dict[int, int] = {}
    for i, token_id in enumerate(ids):
        if token_id in first:
            raise InvalidRouting(
                f"tokens: id {token_id} is given to {where[first[token_id]]} and {where[i]}; "
                "ids must be unique (leave them out to use positions)."
            )
        first[token_id] = i


def load_tokens(path: str | Path) -> dict[str, Any]:
    """Read a token list; returns ``scores [T, E]``, ``scores_are``, ``ids``, ``devices``."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _tokens_csv(path)
    data = _read_json(path, "tokens")
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"tokens"})
        if unknown:
            raise InvalidRouting(
                f"tokens: unknown fields {unknown} in {str(path)!r}; the file holds "
                '{"tokens": [...]} only (graph settings go in the --graph file).'
            )
        rows = data.get("tokens")
    else:
        rows = data
    if not isinstance(rows, list) or not rows:
        raise InvalidRouting(
            f'tokens: {str(path)!r} holds no token list; expected {{"tokens": [...]}} or a '
            'non-empty list of {"id", "device", "logits"} objects.'
        )
    kind = width = None
    scores: list[list[float]] = []
    ids: list[Any] = []
    devices: list[Any] = []
    for t, row in enumerate(rows):
        where = f"tokens[{t}]"
        if not isinstance(row, dict):
            raise InvalidRouting(
                f"{where}: expected an object with a 'logits' (or 'affinity') list, got "
                f"{type(row).__name__}."
            )
        unknown = sorted(set(row) - _TOKEN_KEYS, key=str)
        if unknown:
            raise InvalidRouting(
                f"{where}: unknown fields {unknown}; allowed: {sorted(_TOKEN_KEYS)}."
            )
        kinds = [name for name in ("logits", "affinity") if name in row]
        if len(kinds) != 1:
            raise InvalidRouting(f"{where}: give exactly one of 'logits' or 'affinity'.")
        if kind is None:
            kind = kinds[0]
        elif kinds[0] != kind:
            raise InvalidRouting(
                f"{where}: has {kinds[0]!r} but tokens[0] has {kind!r}; use one kind for every "
                "token."
            )
        values = row[kind]
        if not isinstance(values, list) or not values:
            raise InvalidRouting(f"{where}.{kind}: expected a non-empty list of numbers.")
        bad = [v for v in values if not _is_number(v)]
        if bad:
            raise InvalidRouting(
                f"{where}.{kind}: {str(bad[0])[:40]} is not a finite number; every score must "
                "be one."
            )
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise InvalidRouting(
                f"{where}.{kind}: {len(values)} scores but tokens[0] has {width}; every token "
                "needs one score per expert (the same length)."
            )
        scores.append(values)
        for field, low, out in (("id", _INT64[0], ids), ("device", 0, devices)):
            value = row.get(field)
            if value is not None and not _is_int(value, low):
                what = "an integer" if field == "id" else "an integer device id >= 0"
                raise InvalidRouting(
                    f"{where}.{field}: {value!r}; it must be {what} (never rounded)."
                )
            out.append(value)
    for field, values in (("id", ids), ("device", devices)):
        given = [v is not None for v in values]
        if any(given) and not all(given):
            missing = given.index(False)
            raise InvalidRouting(
                f"tokens[{missing}].{field}: missing, but other tokens have one; give every "
                f"token a {field!r} or none."
            )
    if ids[0] is not None:
        _check_ids(ids, [f"tokens[{t}]" for t in range(len(ids))])
    return {
        "scores": np.asarray(scores, dtype=np.float64),
        "scores_are": "logits" if kind == "logits" else "affinity",
        "ids": None if ids[0] is None else np.asarray(ids, dtype=np.int64),
        "devices": None if devices[0] is None else np.asarray(devices, dtype=np.int64),
    }


def _score_kind(name: str) -> str | None:
    if name.startswith("affinity"):
        return "affinity"
    if name.startswith("logit"):
        return "logits"
    return None


def _tokens_csv(path: Path) -> dict[str, Any]:
    text = _read_text(path, "tokens")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        body = [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise InvalidRouting(f"tokens: {str(path)!r} is not a CSV file ({exc}).") from None
    if not header or not body:
        raise InvalidRouting(f"tokens: {str(path)!r} needs a header row and at least one token.")
    names = [h.strip().lower() for h in header]
    for i, name in enumerate(names):
        if not name:
            raise InvalidRouting(f"tokens: {str(path)!r} header column {i + 1} has no name.")
        if names.index(name) != i:
            raise InvalidRouting(
                f"tokens: {str(path)!r} header names column {name!r} twice; name each once."
            )
    score_cols = [i for i, n in enumerate(names) if n not in ("id", "device")]
    if not score_cols:
        raise InvalidRouting(f"tokens: {str(path)!r} has no score columns (logit_0, ...).")
    kinds = {_score_kind(names[i]) for i in score_cols}
    if len(kinds) > 1:
        raise InvalidRouting(
            f"tokens: {str(path)!r} mixes score columns ({', '.join(names[i] for i in score_cols)}"
            "); name them all logit_* or all affinity_*."
        )
    kind = "affinity" if kinds == {"affinity"} else "logits"
    table = np.empty((len(body), len(names)), dtype=np.float64)
    for r, (line, row) in enumerate(body):
        if len(row) != len(names):
            raise InvalidRouting(
                f"tokens: {str(path)!r} line {line}: {len(row)} cells but the header has "
                f"{len(names)}; every row needs exactly one cell per column."
            )
        for c, (name, cell) in enumerate(zip(names, row, strict=True)):
            table[r, c] = _csv_cell(path, line, name, cell.strip())
    ids = devices = None
    if "id" in names:
        ids = table[:, names.index("id")].astype(np.int64)
        _check_ids(ids.tolist(), [f"line {line}" for line, _ in body])
    if "device" in names:
        devices = table[:, names.index("device")].astype(np.int64)
    return {"scores": table[:, score_cols], "scores_are": kind, "ids": ids, "devices": devices}


def _csv_cell(path: Path, line: int, column: str, cell: str) -> float:
    where = f"tokens: {str(path)!r} line {line} column {column!r}"
    if column in ("id", "device"):
        # ids and devices as floats are exact up to 2^53; larger ones would be rounded
        if not _CSV_INTEGER.fullmatch(cell) or abs(int(cell)) > 2**53:
            raise InvalidRouting(
                f"{where}: {cell[:40]!r} is not an integer (up to 2^53); ids and devices are "
                "whole numbers, never rounded."
            )
        if column == "device" and int(cell) < 0:
            raise InvalidRouting(f"{where}: device {cell} is negative; device ids are >= 0.")
        return float(int(cell))
    if not _CSV_NUMBER.fullmatch(cell):
        if cell.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise InvalidRouting(f"{where}: {cell!r}; every score must be finite.")
        raise InvalidRouting(f"{where}: {cell[:40]!r} is not a number.")
    value = float(cell)
    if not math.isfinite(value):
        raise InvalidRouting(f"{where}: {cell[:40]!r} overflows; every score must be finite.")
    return value


def load_graph(path: str | Path) -> dict[str, Any]:
    """Read a model-graph file (see the module docstring) and check every field's type."""
    path = Path(path)
    graph = _read_json(path, "graph")
    if not isinstance(graph, dict) or "num_experts" not in graph:
        raise InvalidRouting(f"graph: {str(path)!r} must be an object with at least 'num_experts'.")
    unknown = sorted(set(graph) - _GRAPH_KEYS)
    if unknown:
        raise InvalidRouting(
            f"graph: unknown fields {unknown} in {str(path)!r}; allowed: {sorted(_GRAPH_KEYS)}."
        )
    for field in ("num_experts", "k"):
        if field in graph and not (_is_int(graph[field], 1)):
            raise InvalidRouting(f"graph.{field}: {graph[field]!r}; it must be an integer >= 1.")
    if graph.get("capacity") is not None and not _is_int(graph["capacity"], 1):
        raise InvalidRouting(
            f"graph.capacity: {graph['capacity']!r}; it must be an integer >= 1 (or null)."
        )
    for field in ("capacity_factor", "cost_per_hop"):
        if field in graph and not _is_number(graph[field]):
            raise InvalidRouting(f"graph.{field}: {graph[field]!r}; it must be a finite number.")
    if "on_overflow" in graph and graph["on_overflow"] not in ("drop", "raise"):
        raise InvalidRouting(f"graph.on_overflow: {graph['on_overflow']!r}; use 'drop' or 'raise'.")
    if "name" in graph and not isinstance(graph["name"], str):
        raise InvalidRouting(f"graph.name: {graph['name']!r}; it must be a string.")
    if "expert_device" in graph:
        devices = graph["expert_device"]
        if not isinstance(devices, list) or not all(_is_int(d, 0) for d in devices):
            raise InvalidRouting(
                f"graph.expert_device: {str(devices)[:60]}; it must be a list of integer device "
                "ids >= 0, one per expert."
            )
        if len(devices) != graph["num_experts"]:
            raise InvalidRouting(
                f"graph.expert_device: {len(devices)} entries for num_experts="
                f"{graph['num_experts']}; give one device per expert."
            )
    else:
        for field in ("hops", "cost_per_hop"):
            if field in graph:
                raise InvalidRouting(
                    f"graph.{field}: needs graph.expert_device (where each expert lives); "
                    f"add it or drop {field}."
                )
    if "hops" in graph:
        hops = graph["hops"]
        ok = isinstance(hops, list) and all(
            isinstance(row, list) and len(row) == len(hops) and all(_is_number(h) for h in row)
            for row in hops
        )
        if not ok:
            raise InvalidRouting(
                f"graph.hops: {str(hops)[:60]}; it must be a square list of lists of hop counts "
                "(numbers), one row and one column per device."
            )
    return graph


def load_problem(
    tokens: str | Path, graph: str | Path | None = None, **overrides: Any
) -> RoutingProblem:
    """A ``RoutingProblem`` from a token file and (optionally) a model-graph file.

    ``overrides`` (``k``, ``capacity_factor``, ``capacity``, ``on_overflow``, ``scores_are``,
    ``cost_per_hop``; ``None`` means "as in the file") replace the graph file's values.
    """
    unknown = sorted(set(overrides) - _OVERRIDES)
    if unknown:
        raise InvalidRouting(
            f"load_problem: unknown settings {unknown}; it takes {sorted(_OVERRIDES)}."
        )
    tok = load_tokens(tokens)
    spec: dict[str, Any] = dict(load_graph(graph)) if graph is not None else {}
    spec.update({key: v for key, v in overrides.items() if v is not None})
    E = tok["scores"].shape[1]
    if "num_experts" in spec and spec["num_experts"] != E:
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
            spec.get("cost_per_hop", 0.0),
            spec.get("hops"),
        )
    elif "cost_per_hop" in spec:
        raise InvalidRouting("cost_per_hop: needs graph.expert_device (where each expert lives).")
    return RoutingProblem.from_scores(
        tok["scores"],
        spec.get("k", 1),
        spec.get("capacity_factor", 1.0),
        capacity=spec.get("capacity"),
        scores_are=spec.get("scores_are", tok["scores_are"]),
        on_overflow=spec.get("on_overflow", "drop"),
        locality=locality,
        token_ids=tok["ids"],
    )
