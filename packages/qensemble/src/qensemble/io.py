"""Reading arrays for the command line: ``.npy`` files and plain CSV (one row per worker)."""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path

import numpy as np

from qensemble.errors import InvalidUpdates

__all__ = ["load_array", "parse_csv"]


def parse_csv(text: str, field: str = "file") -> np.ndarray:
    """A rectangular matrix of finite floats from CSV text (``#`` lines and blank lines skipped).

    Every row must have the same number of cells; a cell that is not a finite number is an
    :class:`InvalidUpdates` naming its row and column (1-based, as an editor shows them).
    """
    rows: list[list[float]] = []
    reader = csv.reader(_io.StringIO(text))
    width = None
    try:
        lines = list(reader)
    except csv.Error as exc:
        raise InvalidUpdates(f"{field}: is not valid CSV ({exc}).") from None
    for line_no, cells in enumerate(lines, start=1):
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        values = []
        for col, cell in enumerate(cells, start=1):
            try:
                value = float(cell)
            except ValueError:
                raise InvalidUpdates(
                    f"{field}: row {line_no} column {col} is {cell.strip()[:20]!r}, not a number."
                ) from None
            if not math.isfinite(value):
                raise InvalidUpdates(
                    f"{field}: row {line_no} column {col} is {value}; values must be finite."
                )
            values.append(value)
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise InvalidUpdates(
                f"{field}: row {line_no} has {len(values)} values but earlier rows have {width}; "
                "every row (worker) needs the same length."
            )
        rows.append(values)
    if not rows:
        raise InvalidUpdates(f"{field}: has no data rows; write one row per worker.")
    return np.array(rows, dtype=np.float64)


def load_array(path: str | Path, field: str = "file") -> np.ndarray:
    """``.npy`` (no pickles) or CSV text; ``OSError`` for a missing or unreadable file."""
    p = Path(path)
    if p.suffix == ".npy":
        try:
            array = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise InvalidUpdates(f"{field}: {p} is not a plain .npy array ({exc}).") from None
        if not np.issubdtype(array.dtype, np.number):
            raise InvalidUpdates(f"{field}: {p} holds {array.dtype}, not numbers.")
        return array.astype(np.float64)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise InvalidUpdates(f"{field}: {p} is not UTF-8 text; pass CSV or .npy.") from None
    return parse_csv(text, field)
