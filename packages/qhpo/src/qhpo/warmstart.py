"""Warm starts: prior trials from CSV or JSON, including studies over a different space.

Handling of a prior study whose space only partly overlaps the new one is explicit, never
silent:

- a column/parameter the new space does not have: an error naming it, unless
  ``unknown="ignore"`` (the report lists what was ignored);
- a parameter of the new space the prior rows lack (the old study kept it fixed): an error,
  unless ``defaults={"name": value}`` gives the value the prior runs used, or
  ``missing="skip"`` drops those rows (reported);
- a value outside the new space: an error naming row and parameter, unless
  ``outside="skip"`` (reported);
- an empty, ``nan`` or ``inf`` value cell: the trial is added as failed (reported).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qhpo.errors import InvalidSpace, InvalidWarmStart
from qhpo.space import Space

__all__ = ["WarmStartReport", "load_prior", "read_records"]

VALUE_KEYS = ("value", "objective", "loss")


@dataclass
class WarmStartReport:
    trials: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    ignored_params: list[str] = field(default_factory=list)
    skipped_rows: list[str] = field(default_factory=list)  # "row N: reason"
    n_failed: int = 0


def _parse_csv(text: str, where: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InvalidWarmStart(f"{where}: no header row; the first line names the columns")
    if len(set(reader.fieldnames)) != len(reader.fieldnames):
        raise InvalidWarmStart(f"{where}: duplicate column names {reader.fieldnames}")
    rows = []
    for i, row in enumerate(reader, start=2):
        if None in row:
            raise InvalidWarmStart(f"{where}: line {i} has more cells than the header")
        # an empty cell is an absent parameter (e.g. an inactive conditional one)
        rows.append({k: v for k, v in row.items() if v is not None and v != ""})
    return rows


def read_records(source: str | Path | Sequence[Mapping[str, Any]]) -> tuple[list[dict], str]:
    """Flat records ``{param: value, ..., "value": v}`` from a file or a list."""
    if isinstance(source, str | Path):
        path = Path(source)
        text = path.read_text()
        where = str(path)
        if path.suffix.lower() == ".csv":
            return _parse_csv(text, where), where
        if path.suffix.lower() != ".json":
            raise InvalidWarmStart(f"{where}: expected a .csv or .json file")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidWarmStart(
                f"{where}: not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
    else:
        data, where = source, "records"
    if isinstance(data, Mapping) and "trials" in data:  # a qhpo study file
        data = [
            {"params": t.get("params"), "value": t.get("value")}
            for t in data["trials"]
            if isinstance(t, Mapping) and t.get("state") in ("complete", "failed")
        ]
    if not isinstance(data, list):
        raise InvalidWarmStart(f"{where}: expected a list of trials")
    records = []
    for i, rec in enumerate(data):
        if not isinstance(rec, Mapping):
            raise InvalidWarmStart(f"{where}: trial {i} is not an object")
        if "params" in rec:
            if not isinstance(rec["params"], Mapping):
                raise InvalidWarmStart(f"{where}: trial {i}: params must be an object")
            flat = dict(rec["params"])
            for k in VALUE_KEYS:
                if k in rec:
                    flat[k] = rec[k]
            records.append(flat)
        else:
            records.append(dict(rec))
    return records, where


def _value(raw: object, where: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise InvalidWarmStart(f"{where}: value {raw!r} is not a number") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidWarmStart(f"{where}: value {raw!r} is not a number")
    v = float(raw)
    return v if math.isfinite(v) else None


def load_prior(
    source: str | Path | Sequence[Mapping[str, Any]],
    space: Space,
    *,
    unknown: str = "error",
    missing: str = "error",
    outside: str = "error",
    defaults: Mapping[str, Any] | None = None,
) -> WarmStartReport:
    """Prior trials checked against ``space`` (see the module docstring for the policies)."""
    for name, val, ok in (
        ("unknown", unknown, ("error", "ignore")),
        ("missing", missing, ("error", "skip")),
        ("outside", outside, ("error", "skip")),
    ):
        if val not in ok:
            raise InvalidWarmStart(f"{name}: expected one of {list(ok)}, got {val!r}")
    defaults = dict(defaults or {})
    for k, v in defaults.items():
        if k not in space:
            raise InvalidWarmStart(f"defaults: {k!r} is not a parameter of the space")
        try:
            defaults[k] = space[k].coerce(v)
        except InvalidSpace as exc:
            raise InvalidWarmStart(f"defaults: {exc}") from None
    records, where = read_records(source)
    report = WarmStartReport()
    if not records:
        raise InvalidWarmStart(f"{where}: no trials in it")
    for i, rec in enumerate(records):
        row = f"{where}: trial {i}"
        key = next((k for k in VALUE_KEYS if k in rec), None)
        if key is None:
            raise InvalidWarmStart(f"{row}: no 'value' field (the objective, lower is better)")
        value = _value(rec.pop(key), row)
        for k in VALUE_KEYS:
            rec.pop(k, None)
        extra = sorted(set(rec) - set(space.names))
        if extra:
            if unknown == "error":
                raise InvalidWarmStart(
                    f"{row}: parameters {extra} are not in the space; pass unknown='ignore' "
                    "to warm-start from the parameters both spaces share"
                )
            for k in extra:
                rec.pop(k)
                if k not in report.ignored_params:
                    report.ignored_params.append(k)
        config: dict[str, Any] = {}
        skip = None
        for p in space.params:
            if not space.is_active(p, config):
                continue
            if p.name not in rec:
                if p.name in defaults:
                    config[p.name] = defaults[p.name]
                    continue
                if missing == "skip":
                    skip = f"missing {p.name!r}"
                    break
                raise InvalidWarmStart(
                    f"{row}: no value for {p.name!r}; pass defaults={{{p.name!r}: <value the "
                    "prior runs used>}} or missing='skip'"
                )
            try:
                config[p.name] = p.coerce(rec[p.name])
            except InvalidSpace as exc:
                if outside == "skip":
                    skip = str(exc)
                    break
                raise InvalidWarmStart(
                    f"{row}: {exc}; pass outside='skip' to drop such rows"
                ) from None
        if skip is not None:
            report.skipped_rows.append(f"trial {i}: {skip}")
            continue
        if value is None:
            report.n_failed += 1
            report.trials.append((config, math.nan))
        else:
            report.trials.append((config, value))
    return report
