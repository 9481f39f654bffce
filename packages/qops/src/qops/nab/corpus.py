"""NAB's files: the data corpus, the anomaly windows, and a detector's results directory.

Layout (numenta/NAB): ``data/<category>/<name>.csv`` with ``timestamp,value``;
``labels/combined_windows.json`` maps ``"<category>/<name>.csv"`` to a list of
``[start, end]`` timestamp pairs; a detector's results live in
``<results>/<detector>/<category>/<detector>_<name>.csv`` with at least
``timestamp,anomaly_score``. Everything is read exactly or refused with
``MalformedNabDirectory`` naming the file, row and column.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qops.errors import MalformedNabDirectory

__all__ = [
    "NabCorpus",
    "NabSeries",
    "find_nab_root",
    "load_corpus",
    "load_windows",
    "parse_timestamps",
    "read_results",
    "require_nab_root",
    "results_file_name",
]

NAB_ROOT_ENV = "QOPS_NAB_ROOT"


@dataclass(frozen=True)
class NabSeries:
    """One data file: its path relative to ``data/``, timestamps (datetime64[s]) and values."""

    relative_path: str
    timestamps: np.ndarray
    values: np.ndarray

    @property
    def category(self) -> str:
        return self.relative_path.split("/")[0]

    @property
    def name(self) -> str:
        return self.relative_path.split("/")[-1]


@dataclass(frozen=True)
class NabCorpus:
    """The data files and their anomaly windows as (first row, last row) index pairs."""

    series: dict[str, NabSeries]
    windows: dict[str, list[tuple[int, int]]]

    @property
    def window_count(self) -> int:
        return sum(len(w) for w in self.windows.values())

    @property
    def point_count(self) -> int:
        return sum(s.values.size for s in self.series.values())


def find_nab_root(start: Path | None = None) -> Path | None:
    """NAB's folder (with ``data/`` and ``labels/``): ``$QOPS_NAB_ROOT``, else the first
    ``shared/data/nab`` found beside this checkout or one of its parents, else None."""
    env = os.environ.get(NAB_ROOT_ENV, "").strip()
    if env:
        return Path(env)
    places = [Path.cwd() if start is None else start, Path(__file__).resolve()]
    for place in places:
        for parent in [place, *place.parents]:
            candidate = parent / "shared" / "data" / "nab"
            if (candidate / "labels" / "combined_windows.json").is_file():
                return candidate
    return None


def require_nab_root(given: Path | None = None) -> Path:
    """``given``, else :func:`find_nab_root`; ``MalformedNabDirectory`` naming the fix if
    neither gives a folder (the CLI and the tools/ benchmarks share this)."""
    root = given if given is not None else find_nab_root()
    if root is None:
        raise MalformedNabDirectory(
            "nab-root: no NAB folder found; pass --nab-root DIR (with data/ and labels/) or "
            f"set {NAB_ROOT_ENV}."
        )
    return root


def parse_timestamps(where: str, texts: list[str]) -> np.ndarray:
    """ISO-like timestamp strings as datetime64[s], or ``MalformedNabDirectory`` naming the row."""
    try:
        return np.array(texts, dtype="datetime64[s]")
    except ValueError:
        for row, text in enumerate(texts, start=2):
            try:
                np.datetime64(text, "s")
            except ValueError:
                raise MalformedNabDirectory(
                    f"{where}: row {row}, column 'timestamp': {text!r} is not a timestamp "
                    "(expected e.g. '2014-07-01 00:00:00')."
                ) from None
        raise


def _read_columns(path: Path, columns: Iterable[str]) -> dict[str, list[str]]:
    wanted = list(columns)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise MalformedNabDirectory(f"{path}: empty file; expected a header row.")
            header = [h.strip() for h in header]
            missing = [c for c in wanted if c not in header]
            if missing:
                raise MalformedNabDirectory(
                    f"{path}: missing column(s) {', '.join(missing)}; header is {header}."
                )
            idx = [header.index(c) for c in wanted]
            out: dict[str, list[str]] = {c: [] for c in wanted}
            for row_number, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < len(header):
                    raise MalformedNabDirectory(
                        f"{path}: row {row_number} has {len(row)} cells, the header {len(header)}."
                    )
                for c, i in zip(wanted, idx, strict=True):
                    out[c].append(row[i])
    except UnicodeDecodeError:
        raise MalformedNabDirectory(f"{path}: not a UTF-8 CSV file.") from None
    return out


def _floats(where: Path, column: str, texts: list[str]) -> np.ndarray:
    try:
        values = np.array(texts, dtype=float)
    except ValueError:
        for row, text in enumerate(texts, start=2):
            try:
                float(text)
            except ValueError:
                raise MalformedNabDirectory(
                    f"{where}: row {row}, column {column!r}: {text!r} is not a number."
                ) from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise MalformedNabDirectory(
            f"{where}: row {int(bad[0]) + 2}, column {column!r}: "
            f"non-finite value {texts[bad[0]]!r}."
        )
    return values


def read_series(path: Path, relative_path: str) -> NabSeries:
    cols = _read_columns(path, ("timestamp", "value"))
    if not cols["timestamp"]:
        raise MalformedNabDirectory(f"{path}: no data rows.")
    # NAB's own data is not strictly ordered (a repeated hour at a clock change in
    # ec2_disk_write_bytes_1ef3de, a step back in machine_temperature_system_failure) and NAB
    # scores it row by row as it is, so the corpus keeps row order and does not refuse these.
    stamps = parse_timestamps(str(path), cols["timestamp"])
    return NabSeries(relative_path, stamps, _floats(path, "value", cols["value"]))


def load_windows(
    labels_path: Path, series: dict[str, NabSeries]
) -> dict[str, list[tuple[int, int]]]:
    """The windows of every data file as row-index pairs (both ends included)."""
    try:
        raw = json.loads(labels_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MalformedNabDirectory(f"{labels_path}: not valid JSON ({exc}).") from None
    if not isinstance(raw, dict):
        raise MalformedNabDirectory(f"{labels_path}: expected an object of file -> windows.")
    windows: dict[str, list[tuple[int, int]]] = {}
    for rel, data in series.items():
        if rel not in raw:
            raise MalformedNabDirectory(f"{labels_path}: no windows listed for data file {rel!r}.")
        pairs = raw[rel]
        if not isinstance(pairs, list):
            raise MalformedNabDirectory(f"{labels_path}: {rel!r}: windows must be a list.")
        found: list[tuple[int, int]] = []
        for k, pair in enumerate(pairs):
            if not (
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
            ):
                raise MalformedNabDirectory(
                    f"{labels_path}: {rel!r} window {k}: expected [start, end] timestamps."
                )
            ends = parse_timestamps(f"{labels_path}: {rel!r} window {k}", list(pair))
            idx = []
            for end in ends:
                rows = np.flatnonzero(data.timestamps == end)
                if rows.size == 0:
                    raise MalformedNabDirectory(
                        f"{labels_path}: {rel!r} window {k}: timestamp {end} is not a row of the "
                        "data file."
                    )
                idx.append(int(rows[0]))  # the first row with that time, as NAB does
            if idx[1] < idx[0]:
                raise MalformedNabDirectory(
                    f"{labels_path}: {rel!r} window {k}: ends before it starts."
                )
            found.append((int(idx[0]), int(idx[1])))
        windows[rel] = sorted(found)
    return windows


def load_corpus(root: Path, only: Iterable[str] | None = None) -> NabCorpus:
    """NAB's data files under ``root/data`` and windows from ``root/labels/combined_windows.json``.

    ``only``: relative paths (``"realKnownCause/nyc_taxi.csv"``) to load instead of all.
    """
    root = Path(root)
    data_dir = root / "data"
    labels = root / "labels" / "combined_windows.json"
    if not data_dir.is_dir():
        raise MalformedNabDirectory(f"{root}: no data/ folder; expected NAB's layout.")
    if not labels.is_file():
        raise MalformedNabDirectory(f"{root}: no labels/combined_windows.json.")
    paths = sorted(p for p in data_dir.glob("*/*.csv"))
    wanted = None if only is None else set(only)
    series: dict[str, NabSeries] = {}
    for path in paths:
        rel = f"{path.parent.name}/{path.name}"
        if wanted is not None and rel not in wanted:
            continue
        series[rel] = read_series(path, rel)
    if wanted is not None and wanted - set(series):
        raise MalformedNabDirectory(
            f"{data_dir}: no data file {sorted(wanted - set(series))[0]!r}."
        )
    if not series:
        raise MalformedNabDirectory(f"{data_dir}: no <category>/<name>.csv data files.")
    return NabCorpus(series, load_windows(labels, series))


def results_file_name(detector: str, relative_path: str) -> str:
    """``<category>/<detector>_<name>.csv``, NAB's name for one results file."""
    category, name = relative_path.split("/")
    return f"{category}/{detector}_{name}"


def read_results(results_dir: Path, corpus: NabCorpus) -> dict[str, np.ndarray]:
    """Anomaly scores of the detector whose results are in ``results_dir`` (its name is the
    folder's name), one array per data file of ``corpus``, checked row by row against it."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise MalformedNabDirectory(f"{results_dir}: not a directory.")
    detector = results_dir.resolve().name
    scores: dict[str, np.ndarray] = {}
    for rel, data in corpus.series.items():
        path = results_dir / results_file_name(detector, rel)
        if not path.is_file():
            raise MalformedNabDirectory(
                f"{results_dir}: missing results file {results_file_name(detector, rel)} "
                f"(expected <category>/{detector}_<file>.csv for every data file)."
            )
        cols = _read_columns(path, ("timestamp", "anomaly_score"))
        if len(cols["timestamp"]) != data.values.size:
            raise MalformedNabDirectory(
                f"{path}: {len(cols['timestamp'])} rows, the data file has {data.values.size}."
            )
        stamps = parse_timestamps(str(path), cols["timestamp"])
        mismatch = np.flatnonzero(stamps != data.timestamps)
        if mismatch.size:
            i = int(mismatch[0])
            raise MalformedNabDirectory(
                f"{path}: row {i + 2}, column 'timestamp': {stamps[i]} where the data file has "
                f"{data.timestamps[i]}."
            )
        scores[rel] = _floats(path, "anomaly_score", cols["anomaly_score"])
    return scores
