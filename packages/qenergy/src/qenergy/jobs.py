"""The job table: load from a DataFrame, CSV, JSON or records, validate, nothing dropped.

Required: ``job_id, gpus, submit_s, deadline_s`` and a duration (``duration_s``, or
``duration_min`` / ``duration_h``, or ``work_gpu_s`` = GPU-seconds of work, divided by ``gpus``).
Power: ``power_w`` or ``power_kw`` (numbers), or ``power`` with units in every value
("2.8 kW"); optional when a predictor fills it in. Every other column is kept as a feature.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from qenergy.errors import AmbiguousUnits, InvalidJobs, MissingColumn
from qenergy.units import check_plausible, parse_power, unit_from_name

__all__ = ["REQUIRED", "load_jobs", "read_jobs_text"]

REQUIRED = ("job_id", "gpus", "submit_s", "deadline_s")
_DURATIONS = {"duration_s": 1.0, "duration_min": 60.0, "duration_h": 3600.0}
_POWER_COLUMNS = ("power_w", "power_kw", "power")


def read_jobs_text(text: str, fmt: str) -> pd.DataFrame:
    """A job table from CSV or JSON text (``fmt`` 'csv' or 'json'); values stay as written."""
    if not text.strip():
        raise InvalidJobs("jobs: the file is empty; give a header row and one row per job.")
    if fmt == "csv":
        try:
            return pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise InvalidJobs(
                f"jobs: not a readable CSV table ({' '.join(str(exc).split())})."
            ) from None
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidJobs(f"jobs: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        if isinstance(data, Mapping) and "jobs" in data:
            data = data["jobs"]
        if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
            raise InvalidJobs(
                'jobs: JSON must be a list of objects (or {"jobs": [...]}), one object per job.'
            )
        return pd.DataFrame.from_records(data)
    raise InvalidJobs(f"jobs: unknown format {fmt!r}; use 'csv' or 'json'.")


def _frame(source: object) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, str | Path):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".json"):
            raise InvalidJobs(f"jobs: {path} must end in .csv or .json.")
        return read_jobs_text(path.read_text(), suffix[1:])
    if isinstance(source, Sequence) and all(isinstance(r, Mapping) for r in source):
        return pd.DataFrame.from_records(list(source))
    raise InvalidJobs(
        f"jobs: expected a DataFrame, a .csv/.json path or a list of dicts, got "
        f"{type(source).__name__}."
    )


def _number(
    value: object, field: str, *, integer: bool = False, minimum: float | None = None
) -> float:
    if isinstance(value, bool) or value is None:
        raise InvalidJobs(f"{field}: {value!r} is not a number.")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidJobs(f"{field}: is empty; every job needs a value here.")
        try:
            number = float(text)
        except ValueError:
            raise InvalidJobs(f"{field}: {value!r} is not a number.") from None
    else:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidJobs(f"{field}: {value!r} is not a number.") from None
    if not math.isfinite(number):
        raise InvalidJobs(f"{field}: {value!r} is not finite; every job needs a finite value.")
    if integer and number != int(number):
        raise InvalidJobs(f"{field}: {value!r} is not a whole number.")
    if minimum is not None and number < minimum:
        raise InvalidJobs(f"{field}: {value!r} is below {minimum:g}.")
    return number


def load_jobs(source: object, *, require_power: bool = True) -> pd.DataFrame:
    """A validated job table with ``job_id`` (str), ``gpus`` (int), ``duration_s``, ``submit_s``,
    ``deadline_s`` and ``power_w`` (float watts, the job's total over its GPUs) plus every
    other column unchanged as a feature.

    Raises :class:`MissingColumn` naming the absent column, :class:`InvalidJobs` naming the job
    and field of a bad value, :class:`AmbiguousUnits` for power without a certain unit.
    """
    frame = _frame(source)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InvalidJobs("jobs: the table has no rows; give at least one job.")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise MissingColumn(
            f"jobs: missing column {missing[0]!r}; a job table needs {', '.join(REQUIRED)}, "
            "a duration (duration_s, duration_min, duration_h or work_gpu_s) and power_w."
        )
    durations = [c for c in (*_DURATIONS, "work_gpu_s") if c in frame.columns]
    if not durations:
        raise MissingColumn(
            "jobs: missing column 'duration_s'; give duration_s (or duration_min, duration_h, "
            "or work_gpu_s = GPU-seconds of work)."
        )
    if len(durations) > 1:
        raise InvalidJobs(
            f"jobs: both {durations[0]!r} and {durations[1]!r} are given; keep one duration column."
        )
    powers = [c for c in _POWER_COLUMNS if c in frame.columns]
    if len(powers) > 1:
        raise AmbiguousUnits(
            f"jobs: both {powers[0]!r} and {powers[1]!r} are given; keep one power column."
        )
    if require_power and not powers:
        raise MissingColumn(
            "jobs: missing column 'power_w'; give each job's power in watts (or power_kw), "
            "or fill it with a predictor (qenergy.predict)."
        )

    ids = [str(v).strip() for v in frame["job_id"]]
    for row, job in enumerate(ids):
        if not job or job.lower() == "nan":
            raise InvalidJobs(f"job_id: row {row} has no id; every job needs a unique job_id.")
    seen: set[str] = set()
    for job in ids:
        if job in seen:
            raise InvalidJobs(f"job_id: {job!r} appears twice; ids must be unique.")
        seen.add(job)

    out = frame.drop(columns=[*durations, *powers]).copy()
    out["job_id"] = ids
    gpus = [
        int(_number(v, f"gpus (job {j!r})", integer=True, minimum=1))
        for j, v in zip(ids, frame["gpus"], strict=True)
    ]
    out["gpus"] = gpus
    col = durations[0]
    if col == "work_gpu_s":
        dur = [
            _number(v, f"work_gpu_s (job {j!r})", minimum=0) / g
            for j, v, g in zip(ids, frame[col], gpus, strict=True)
        ]
    else:
        dur = [
            _number(v, f"{col} (job {j!r})", minimum=0) * _DURATIONS[col]
            for j, v in zip(ids, frame[col], strict=True)
        ]
    for j, d in zip(ids, dur, strict=True):
        if d <= 0:
            raise InvalidJobs(f"{col} (job {j!r}): is 0; a job must run for a positive time.")
    out["duration_s"] = dur
    out["submit_s"] = [
        _number(v, f"submit_s (job {j!r})", minimum=0)
        for j, v in zip(ids, frame["submit_s"], strict=True)
    ]
    out["deadline_s"] = [
        _number(v, f"deadline_s (job {j!r})") for j, v in zip(ids, frame["deadline_s"], strict=True)
    ]
    for j, s, d in zip(ids, out["submit_s"], out["deadline_s"], strict=True):
        if d <= s:
            raise InvalidJobs(
                f"deadline_s (job {j!r}): {d:g} is not after submit_s {s:g}; a deadline "
                "must follow the submission."
            )
    if powers:
        pcol = powers[0]
        unit = unit_from_name(pcol)
        watts = []
        for j, v, g in zip(ids, frame[pcol], gpus, strict=True):
            field = f"{pcol} (job {j!r})"
            if isinstance(v, str) and not v.strip():
                raise InvalidJobs(
                    f"{field}: is empty; give the power or drop the column and predict it."
                )
            w = parse_power(v, field, unit)
            if w <= 0:
                raise InvalidJobs(f"{field}: {w:g} W; a running job draws positive power.")
            check_plausible(w / g, field, unit)
            watts.append(w)
        out["power_w"] = watts
    cols = ["job_id", "gpus", "duration_s", "submit_s", "deadline_s"]
    cols += ["power_w"] if powers else []
    rest = [c for c in out.columns if c not in cols]
    return (
        out[cols + rest]
        .reset_index(drop=True)
        .astype({"gpus": np.int64, "duration_s": float, "submit_s": float, "deadline_s": float})
    )
