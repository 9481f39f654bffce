"""Telemetry readers for the formats operators already have; one frame out, nothing dropped.

- ``nvidia-smi --query-gpu=timestamp,index,power.draw,utilization.gpu --format=csv``
  (values like ``245.31 W`` and ``87 %``; also ``--format=csv,nounits``, where the unit is in
  the header ``power.draw [W]``);
- dcgm-exporter's Prometheus text (``DCGM_FI_DEV_POWER_USAGE{gpu="0",...} 71.388 [ts_ms]``),
  concatenated scrapes, each line with its own millisecond timestamp or one given per scrape;
- Prometheus ``/api/v1/query_range`` JSON for ``DCGM_FI_DEV_POWER_USAGE``;
- ``dcgmi dmon -e 155[,203]`` text (field 155 = power usage in W, 203 = GPU utilisation).

Out: ``timestamp_s`` (float seconds), ``gpu`` (str), ``power_w`` (float), ``util_pct`` (float,
NaN where the format has none), and ``host`` where known. Per GPU, timestamps must increase:
a reading that goes back in time, a duplicate, "[N/A]", an empty file: a one-line error naming
the line, never a silently dropped row.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from qenergy.errors import InvalidTelemetry, MissingColumn
from qenergy.units import check_plausible, parse_power, unit_from_name

__all__ = [
    "COLUMNS",
    "load_telemetry",
    "read_dcgm_prometheus",
    "read_dcgm_query_range",
    "read_dcgmi_dmon",
    "read_nvidia_smi_csv",
    "summarize",
]

COLUMNS = ["timestamp_s", "gpu", "power_w", "util_pct", "host"]
POWER_METRIC = "DCGM_FI_DEV_POWER_USAGE"
UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"


def _text(source: str | Path) -> str:
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and Path(source).is_file()
    ):
        return Path(source).read_text()
    if isinstance(source, str):
        return source
    raise InvalidTelemetry(f"telemetry: expected text or a path, got {type(source).__name__}.")


def _finish(rows: list[dict], where: str) -> pd.DataFrame:
    if not rows:
        raise InvalidTelemetry(f"{where}: no readings; the telemetry is empty.")
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "line"])
    for gpu, group in frame.groupby(["host", "gpu"], sort=False, dropna=False):
        times = group["timestamp_s"].to_numpy()
        steps = np.diff(times)
        if steps.size and (bad := np.flatnonzero(steps <= 0)).size:
            i = int(bad[0]) + 1
            line = int(group["line"].iloc[i])
            what = "repeats" if steps[bad[0]] == 0 else "goes back to"
            host, index = gpu
            name = f"GPU {index}" + (f" on {host}" if isinstance(host, str) and host else "")
            raise InvalidTelemetry(
                f"{where}: line {line}: timestamp {what} {times[i]:.3f} s for {name} "
                f"(previous {times[i - 1]:.3f} s); telemetry must be in time order per GPU."
            )
    return frame.drop(columns="line").reset_index(drop=True)


def _power(value: str, field: str, unit: str | None) -> float:
    if value.strip().strip("[]").upper() in {"N/A", "NOT SUPPORTED", "UNKNOWN ERROR", ""}:
        raise InvalidTelemetry(f"{field}: reading is {value.strip()!r}; the GPU reported no power.")
    watts = parse_power(value, field, unit)
    if watts < 0:
        raise InvalidTelemetry(f"{field}: {watts:g} W is negative.")
    if watts > 0:
        check_plausible(watts, field, unit)
    return watts


def _percent(value: str, field: str) -> float:
    text = value.strip().rstrip("%").strip()
    try:
        number = float(text)
    except ValueError:
        raise InvalidTelemetry(f"{field}: {value.strip()!r} is not a percentage.") from None
    if not (math.isfinite(number) and 0 <= number <= 100):
        raise InvalidTelemetry(f"{field}: {value.strip()!r} is outside 0-100 %.")
    return number


_SMI_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
)


def _timestamp(value: str, field: str) -> float:
    text = value.strip()
    try:
        return float(text)  # epoch seconds, as some wrappers log them
    except ValueError:
        pass
    for fmt in _SMI_TIME_FORMATS:
        try:
            return pd.Timestamp(pd.to_datetime(text, format=fmt)).timestamp()
        except (ValueError, TypeError):
            continue
    raise InvalidTelemetry(
        f"{field}: cannot read timestamp {text!r}; expected e.g. 2024/01/15 10:00:00.123."
    )


def read_nvidia_smi_csv(source: str | Path, host: str = "") -> pd.DataFrame:
    """``nvidia-smi --query-gpu=timestamp,index,power.draw[,utilization.gpu]
    --format=csv[,nounits]`` output."""
    lines = _text(source).splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        raise InvalidTelemetry("nvidia-smi: the file is empty; expected a header and readings.")
    _, header_line = numbered[0]
    header = [h.strip() for h in header_line.split(",")]
    keys = [h.split("[")[0].strip().lower() for h in header]
    for need in ("timestamp", "index", "power.draw"):
        if need not in keys:
            raise MissingColumn(
                f"nvidia-smi: missing column {need!r} in header {header_line.strip()!r}; run "
                "nvidia-smi --query-gpu=timestamp,index,power.draw,utilization.gpu --format=csv."
            )
    ti, gi, pi = keys.index("timestamp"), keys.index("index"), keys.index("power.draw")
    ui = keys.index("utilization.gpu") if "utilization.gpu" in keys else None
    unit = unit_from_name(header[pi])
    rows = []
    for number, line in numbered[1:]:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(header):
            raise InvalidTelemetry(
                f"nvidia-smi: line {number}: {len(cells)} fields, the header has {len(header)}."
            )
        where = f"nvidia-smi: line {number}"
        rows.append(
            {
                "timestamp_s": _timestamp(cells[ti], f"{where}: timestamp"),
                "gpu": cells[gi],
                "power_w": _power(cells[pi], f"{where}: power.draw", unit),
                "util_pct": _percent(cells[ui], f"{where}: utilization.gpu")
                if ui is not None
                else np.nan,
                "host": host,
                "line": number,
            }
        )
    return _finish(rows, "nvidia-smi")


_PROM = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _labels(text: str, where: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    text = text or ""
    while pos < len(text.rstrip()):
        match = _LABEL.match(text, pos)
        if match is None:
            raise InvalidTelemetry(f"{where}: cannot read labels {{{text}}}.")
        labels[match.group(1)] = match.group(2)
        pos = match.end()
    return labels


def read_dcgm_prometheus(
    source: str | Path, timestamp_s: float | Iterable[float] | None = None
) -> pd.DataFrame:
    """dcgm-exporter's ``/metrics`` text; several scrapes may follow one another.

    Power comes from ``DCGM_FI_DEV_POWER_USAGE`` (watts, as the exporter's HELP says),
    utilisation from ``DCGM_FI_DEV_GPU_UTIL`` of the same GPU and time. A sample line needs a
    time: its own millisecond timestamp, or ``timestamp_s`` (one number for a single scrape, or
    one per scrape; a scrape starts where a GPU's power appears a second time).
    """
    text = _text(source)
    given = (
        [float(timestamp_s)]
        if isinstance(timestamp_s, int | float)
        else ([float(t) for t in timestamp_s] if timestamp_s is not None else None)
    )
    power: dict[tuple[str, str, float], tuple[float, int]] = {}
    util: dict[tuple[str, str, float], float] = {}
    seen_in_scrape: set[tuple[str, str]] = set()
    scrape = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"dcgm: line {number}"
        match = _PROM.match(line)
        if match is None:
            raise InvalidTelemetry(f"{where}: not a Prometheus sample line: {line[:80]!r}.")
        name, labels_text, value, stamp = match.groups()
        if name not in (POWER_METRIC, UTIL_METRIC):
            continue
        labels = _labels(labels_text, where)
        gpu = labels.get("gpu")
        if gpu is None:
            raise MissingColumn(
                f'{where}: {name} has no gpu label; dcgm-exporter always sets gpu="N".'
            )
        host = labels.get("Hostname", labels.get("instance", ""))
        key = (host, gpu)
        if name == POWER_METRIC:
            if key in seen_in_scrape:
                scrape += 1
                seen_in_scrape = set()
            seen_in_scrape.add(key)
        if stamp is not None:
            t = int(stamp) / 1000.0
        elif given is not None:
            if scrape >= len(given):
                raise InvalidTelemetry(
                    f"{where}: scrape {scrape + 1} has no timestamp; timestamp_s gives only "
                    f"{len(given)}."
                )
            t = given[scrape]
        else:
            raise InvalidTelemetry(
                f"{where}: the sample has no timestamp; pass timestamp_s (the scrape time) or "
                "export with timestamps."
            )
        if name == POWER_METRIC:
            power[(host, gpu, t)] = (_power(value, f"{where}: {POWER_METRIC}", "W"), number)
        else:
            util[(host, gpu, t)] = _percent(value, f"{where}: {UTIL_METRIC}")
    if not power:
        raise InvalidTelemetry(f"dcgm: no {POWER_METRIC} samples; the telemetry is empty.")
    rows = [
        {
            "timestamp_s": t,
            "gpu": gpu,
            "power_w": w,
            "util_pct": util.get((host, gpu, t), np.nan),
            "host": host,
            "line": n,
        }
        for (host, gpu, t), (w, n) in power.items()
    ]
    return _finish(rows, "dcgm")


def read_dcgm_query_range(source: str | Path) -> pd.DataFrame:
    """Prometheus ``/api/v1/query_range`` JSON for ``DCGM_FI_DEV_POWER_USAGE`` (values in W)."""
    try:
        data = json.loads(_text(source))
    except json.JSONDecodeError as exc:
        raise InvalidTelemetry(
            f"prometheus: not valid JSON ({exc.msg} at line {exc.lineno})."
        ) from None
    try:
        series = data["data"]["result"]
    except (KeyError, TypeError):
        raise MissingColumn(
            "prometheus: expected {'data': {'result': [...]}} from /api/v1/query_range."
        ) from None
    if not isinstance(series, list):
        raise InvalidTelemetry("prometheus: data.result must be a list of series.")
    rows = []
    for k, item in enumerate(series):
        if (
            not isinstance(item, dict)
            or "values" not in item
            or not isinstance(item.get("metric", {}), dict)
        ):
            raise MissingColumn(
                f"prometheus: series {k} has no 'values'; use query_range, not query."
            )
        metric = item.get("metric", {})
        gpu = metric.get("gpu")
        if gpu is None:
            raise MissingColumn(f"prometheus: series {k} has no gpu label.")
        host = metric.get("Hostname", metric.get("instance", ""))
        values = item["values"]
        if not isinstance(values, list):
            raise InvalidTelemetry(
                f"prometheus: series {k}: values must be a list of [time, value]."
            )
        for i, pair in enumerate(values):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise InvalidTelemetry(f"prometheus: series {k} point {i}: expected [time, value].")
            where = f"prometheus: series {k} point {i}"
            try:
                t = float(pair[0])
            except (TypeError, ValueError):
                raise InvalidTelemetry(f"{where}: time {pair[0]!r} is not a number.") from None
            if not math.isfinite(t):
                raise InvalidTelemetry(f"{where}: time {pair[0]!r} is not finite.")
            rows.append(
                {
                    "timestamp_s": t,
                    "gpu": str(gpu),
                    "power_w": _power(str(pair[1]), where, "W"),
                    "util_pct": np.nan,
                    "host": host,
                    "line": i,
                }
            )
    return _finish(rows, "prometheus")


def read_dcgmi_dmon(
    source: str | Path, interval_ms: float = 1000.0, start_s: float = 0.0
) -> pd.DataFrame:
    """``dcgmi dmon -e 155[,203] [-d interval_ms]`` text.

    dmon prints a header (``#Entity  POWER  GPUTL``, then ``ID  W``) and one row per entity per
    interval without timestamps, so time comes from ``start_s`` + interval number x ``interval_ms``
    (dmon's ``-d``, default 1000 ms); an interval ends when an entity appears again.
    """
    if not (
        isinstance(interval_ms, int | float) and math.isfinite(interval_ms) and interval_ms > 0
    ):
        raise InvalidTelemetry(
            f"interval_ms: {interval_ms!r}; pass dmon's -d value in milliseconds (> 0)."
        )
    columns: list[str] | None = None
    rows = []
    seen: set[str] = set()
    tick = 0
    for number, raw in enumerate(_text(source).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            names = line.lstrip("#").split()
            if names and names[0].lower() == "entity":
                columns = [n.upper() for n in names[1:]]
            continue
        parts = line.split()
        if parts[0].upper() == "ID":  # the units row under the header
            continue
        where = f"dcgmi dmon: line {number}"
        if columns is None:
            raise MissingColumn(f"{where}: data before the '#Entity ...' header line.")
        if "POWER" not in columns:
            raise MissingColumn(f"{where}: no POWER column; run dcgmi dmon -e 155 (power usage).")
        if len(parts) != 2 + len(columns) or parts[0].upper() != "GPU":
            raise InvalidTelemetry(
                f"{where}: expected 'GPU <id>' and {len(columns)} values, got {line!r}."
            )
        gpu = parts[1]
        if gpu in seen:
            tick += 1
            seen = set()
        seen.add(gpu)
        values = dict(zip(columns, parts[2:], strict=True))
        util = values.get("GPUTL")
        rows.append(
            {
                "timestamp_s": start_s + tick * interval_ms / 1000.0,
                "gpu": gpu,
                "power_w": _power(values["POWER"], f"{where}: POWER", "W"),
                "util_pct": _percent(util, f"{where}: GPUTL") if util is not None else np.nan,
                "host": "",
                "line": number,
            }
        )
    return _finish(rows, "dcgmi dmon")


def load_telemetry(source: str | Path, fmt: str = "auto", **kwargs: object) -> pd.DataFrame:
    """Read telemetry in any supported format; ``fmt='auto'`` tells them apart by content."""
    text = _text(source)
    if fmt == "auto":
        head = text.lstrip()[:2000]
        if not head:
            raise InvalidTelemetry("telemetry: the file is empty.")
        if head.startswith("{"):
            fmt = "query_range"
        elif POWER_METRIC in head or head.startswith("# HELP") or head.startswith("# TYPE"):
            fmt = "prometheus"
        elif head.startswith("#") and "entity" in head.lower()[:40]:
            fmt = "dmon"
        elif head.lower().startswith("timestamp"):
            fmt = "nvidia-smi"
        else:
            raise InvalidTelemetry(
                "telemetry: unknown format; expected nvidia-smi CSV, dcgm-exporter text, "
                "Prometheus query_range JSON or dcgmi dmon output (or pass fmt=...)."
            )
    readers = {
        "nvidia-smi": read_nvidia_smi_csv,
        "prometheus": read_dcgm_prometheus,
        "query_range": read_dcgm_query_range,
        "dmon": read_dcgmi_dmon,
    }
    if fmt not in readers:
        raise InvalidTelemetry(
            f"fmt: unknown telemetry format {fmt!r}; use one of {', '.join(readers)}."
        )
    return readers[fmt](text, **kwargs)  # type: ignore[operator]


def summarize(telemetry: pd.DataFrame) -> pd.DataFrame:
    """Per GPU: samples, mean and peak power (W), and energy (J) by the trapezoid rule."""
    out = []
    for (host, gpu), group in telemetry.groupby(["host", "gpu"], sort=True):
        t = group["timestamp_s"].to_numpy(float)
        p = group["power_w"].to_numpy(float)
        energy = float(np.trapezoid(p, t)) if len(t) > 1 else 0.0
        out.append(
            {
                "host": host,
                "gpu": gpu,
                "samples": len(t),
                "mean_w": float(p.mean()),
                "peak_w": float(p.max()),
                "energy_j": energy,
            }
        )
    return pd.DataFrame(out)
