"""Benchmark files in, models out: G-set (rudy) max-cut, Beasley OR-Library BQP, BQM JSON.

* :func:`read_gset` gives a SPIN BQM with ``J_ij = w_ij`` (variables ``0..n-1``, the file's
  1-based nodes minus one), so minimising the energy ``E(s) = sum_edges w_ij s_i s_j``
  maximises the cut: ``cut(s) = (W - E(s)) / 2`` with ``W`` the total edge weight.
* :func:`read_beasley` gives one BINARY BQM per instance that *minimises* ``-x'Qx``
  (``Q`` symmetric: each listed off-diagonal ``q_ij`` stands at ``(i, j)`` and ``(j, i)``), so
  the quadratic bias is ``-2 q_ij`` and the linear bias ``-q_ii``; the best-known values of the
  literature are ``max x'Qx = -min energy``.
* :func:`write_bqm_json` / :func:`read_bqm_json` use dimod's own serialisation schema
  (``BinaryQuadraticModel.to_serializable``); the reader checks every field itself before
  building the model, and reads nested tuple labels back as tuples (dimod's
  ``from_serializable`` turns only the outer list into a tuple).

Malformed files raise ``InvalidProblem`` naming the file and the line (or the field). Sizes a
file declares are checked against what the file holds before anything is allocated: an edge
count needs that many lines, and a node count is capped by ``max_variables``
(:data:`MAX_VARIABLES` unless given), so a forged header ends in a one-line error, not in an
attempt to allocate terabytes.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dimod
import numpy as np

from qcore.errors import InvalidProblem
from qcore.validation import validate_bqm

__all__ = [
    "MAX_VARIABLES",
    "BeasleyInstance",
    "GsetInstance",
    "read_beasley",
    "read_bqm_json",
    "read_gset",
    "write_bqm_json",
]

PathLike = str | os.PathLike
# default cap on a declared node/variable count (G-set's largest, G81, has 20,000 nodes;
# Beasley's largest 2,500 variables); a model at the cap takes about 25 MB
MAX_VARIABLES = 100_000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ASCII_SPACE = re.compile(r"[ \t\f\v]+")  # only these separate tokens (not \x1c-\x1f, NBSP)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


# --------------------------------------------------------------------------- helpers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidProblem(
            f"{path}: is not ASCII/UTF-8 text ({exc.reason} at byte {exc.start}); if it is "
            "UTF-16, re-save it as ASCII."
        ) from None


class _Reader:
    """Walks a file's non-blank lines, turning bad tokens into InvalidProblem(file, line)."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._lines = _LINE_BREAK.split(_read_text(self.path))
        if self._lines[-1] == "":  # the final line break ends the last line
            self._lines.pop()
        self._next = 0  # index of the next line to look at
        self.line = 0  # number of the last line read

    def fail(self, message: str, line: int | None = None) -> InvalidProblem:
        return InvalidProblem(f"{self.path}: line {self.line if line is None else line}: {message}")

    def lines_left(self) -> int:
        """An upper bound on the data lines still to come (blank ones included)."""
        return len(self._lines) - self._next

    def _advance(self) -> tuple[int, list[str]] | None:
        while self._next < len(self._lines):
            self._next += 1
            tokens = [t for t in _ASCII_SPACE.split(self._lines[self._next - 1]) if t]
            if tokens:
                return self._next, tokens
        return None

    def next(self, count: int, what: str) -> list[str]:
        found = self._advance()
        if found is None:
            raise InvalidProblem(
                f"{self.path}: ends after line {self.line}, expected {what}; the file is truncated."
            )
        self.line, tokens = found
        if len(tokens) != count:
            raise self.fail(f"expected {what} ({count} numbers), got {' '.join(tokens)[:80]!r}.")
        return tokens

    def rest(self) -> tuple[int, list[str]] | None:
        return self._advance()

    def integer(self, token: str, what: str, low: int, high: int | None = None) -> int:
        if not _INTEGER.fullmatch(token) or len(token) > 30:
            raise self.fail(f"{what} {token[:40]!r} is not an integer.")
        value = int(token)
        if value < low or (high is not None and value > high):
            bound = f"in {low}..{high}" if high is not None else f">= {low}"
            raise self.fail(f"{what} is {value}; it must be {bound}.")
        return value

    def count(self, token: str, what: str, low: int, unit: str) -> int:
        """A declared number of items that take at least a line each: at most the lines left."""
        value = self.integer(token, what, low)
        if value > self.lines_left():
            raise self.fail(
                f"{what} is {value:,} but only {self.lines_left():,} lines follow and each "
                f"{unit} takes a line; the header is wrong or the file is truncated."
            )
        return value

    def size(self, token: str, what: str, low: int, max_variables: int) -> int:
        """A declared number of variables: at most ``max_variables``."""
        value = self.integer(token, what, low)
        if value > max_variables:
            raise self.fail(
                f"{what} is {value:,}, above max_variables={max_variables:,}; the header is "
                "wrong, or pass a larger max_variables if the model really is that big."
            )
        return value

    def number(self, token: str, what: str) -> float:
        if not _NUMBER.fullmatch(token):
            if token.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise self.fail(f"{what} is {token}; it must be finite.")
            raise self.fail(f"{what} {token[:40]!r} is not a number.")
        value = float(token)
        if not math.isfinite(value):
            raise self.fail(f"{what} is {token[:40]}; it must be finite.")
        return value


def _vector(sample: object, n: int, allowed: tuple[int, int], what: str) -> np.ndarray:
    """A single sample (mapping 0..n-1 -> value, length-n sequence, or a SampleSet's best)."""
    if isinstance(sample, dimod.SampleSet):
        if len(sample) == 0:
            raise InvalidProblem("sample: the SampleSet is empty.")
        sample = sample.first.sample
    if isinstance(sample, Mapping):
        missing = [i for i in range(n) if i not in sample]
        if missing or len(sample) != n:
            raise InvalidProblem(
                f"sample: expected the variables 0..{n - 1} exactly (missing "
                f"{missing[:5]}, {len(sample)} given)."
            )
        values = np.array([sample[i] for i in range(n)])
    else:
        try:
            values = np.asarray(sample)
        except (TypeError, ValueError):
            values = np.array(None)
        if values.shape != (n,):
            raise InvalidProblem(
                f"sample: expected a mapping or a sequence of {n} {what} values, got "
                f"{type(sample).__name__} of shape {values.shape}."
            )
    if not np.isin(values, allowed).all():
        bad = sorted(set(values[~np.isin(values, allowed)].tolist()), key=str)[:5]
        raise InvalidProblem(f"sample: values {bad} are not {what} ({allowed[0]} or {allowed[1]}).")
    return values.astype(np.int64)


# --------------------------------------------------------------------------- G-set


@dataclass(frozen=True)
class GsetInstance:
    """A G-set (rudy format) max-cut instance.

    ``bqm``: SPIN, ``J_ij = w_ij`` on variables ``0..n-1``; ``edges``: ``[m, 2]`` 0-based
    endpoints as listed; ``weights``: their weights; ``total_weight``: ``W``.
    """

    name: str
    n: int
    m: int
    bqm: dimod.BinaryQuadraticModel
    edges: np.ndarray
    weights: np.ndarray

    @property
    def total_weight(self) -> float:
        return float(self.weights.sum())

    def cut_value(self, sample: object) -> float:
        """Weight of the edges whose ends have different spins (``sample``: +-1 per node)."""
        s = _vector(sample, self.n, (-1, 1), "spin")
        crossing = s[self.edges[:, 0]] != s[self.edges[:, 1]]
        return float(self.weights[crossing].sum())

    def cut_from_energy(self, energy: float) -> float:
        """``(W - E) / 2``: the cut of a sample whose energy in ``bqm`` is ``energy``."""
        return (self.total_weight - float(energy)) / 2


def read_gset(path: PathLike, *, max_variables: int = MAX_VARIABLES) -> GsetInstance:
    """Read a G-set file: first line ``n m``, then ``m`` lines ``i j w`` (1-based, undirected).

    ``n`` may be at most ``max_variables``; ``m`` at most the lines the file holds.
    """
    reader = _Reader(path)
    header = reader.next(2, "a header 'n m'")
    n = reader.size(header[0], "node count n", 1, max_variables)
    m = reader.count(header[1], "edge count m", 0, "edge")
    edges = np.empty((m, 2), dtype=np.int64)
    weights = np.empty(m, dtype=np.float64)
    for k in range(m):
        i, j, w = reader.next(3, f"edge {k + 1} of {m} as 'i j w'")
        edges[k, 0] = reader.integer(i, "node i", 1, n) - 1
        edges[k, 1] = reader.integer(j, "node j", 1, n) - 1
        if edges[k, 0] == edges[k, 1]:
            raise reader.fail(f"self-loop at node {i}; G-set graphs have none.")
        weights[k] = reader.number(w, "weight w")
    extra = reader.rest()
    if extra is not None:
        raise reader.fail(f"more than the {m} edges the header announces.", extra[0])
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.zeros(n), (edges[:, 0], edges[:, 1], weights), 0.0, dimod.SPIN, variable_order=range(n)
    )
    return GsetInstance(reader.path.stem, n, m, bqm, edges, weights)


# --------------------------------------------------------------------------- Beasley


@dataclass(frozen=True)
class BeasleyInstance:
    """One instance of a Beasley OR-Library BQP file (maximise ``x'Qx``, ``x`` binary).

    ``bqm``: BINARY on ``0..n-1``, energy ``-x'Qx``. ``entries``: ``[m, 2]`` 0-based ``(i, j)``
    as listed, ``values``: the listed ``q_ij``. ``index``: 1-based position in the file.
    """

    name: str
    index: int
    n: int
    m: int
    bqm: dimod.BinaryQuadraticModel
    entries: np.ndarray
    values: np.ndarray

    def matrix(self) -> np.ndarray:
        """The symmetric ``Q`` (each off-diagonal entry at ``(i, j)`` and ``(j, i)``)."""
        Q = np.zeros((self.n, self.n))
        i, j = self.entries[:, 0], self.entries[:, 1]
        np.add.at(Q, (i, j), self.values)
        off = i != j
        np.add.at(Q, (j[off], i[off]), self.values[off])
        return Q

    def objective(self, sample: object) -> float:
        """``x'Qx``, the file's maximised value (``sample``: 0/1 per variable)."""
        x = _vector(sample, self.n, (0, 1), "binary")
        i, j = self.entries[:, 0], self.entries[:, 1]
        factor = np.where(i == j, 1.0, 2.0)
        return float((self.values * factor * x[i] * x[j]).sum())


def read_beasley(path: PathLike, *, max_variables: int = MAX_VARIABLES) -> list[BeasleyInstance]:
    """Read an OR-Library ``bqp*.txt`` file: a count, then per instance ``n m`` and ``m`` lines
    ``i j q`` (1-based). Instances are named ``<file stem>-<k>`` (e.g. ``bqp50-1``).

    Each ``n`` may be at most ``max_variables``; counts at most the lines the file holds.
    """
    reader = _Reader(path)
    first = reader.next(1, "the number of instances")[0]
    count = reader.count(first, "instance count", 1, "instance")
    instances = []
    for index in range(1, count + 1):
        header = reader.next(2, f"instance {index}'s header 'n m'")
        n = reader.size(header[0], f"instance {index}: n", 1, max_variables)
        m = reader.count(header[1], f"instance {index}: m", 0, "entry")
        entries = np.empty((m, 2), dtype=np.int64)
        values = np.empty(m, dtype=np.float64)
        for k in range(m):
            i, j, q = reader.next(3, f"instance {index}: entry {k + 1} of {m} as 'i j q'")
            entries[k, 0] = reader.integer(i, "row i", 1, n) - 1
            entries[k, 1] = reader.integer(j, "column j", 1, n) - 1
            values[k] = reader.number(q, "value q")
        diagonal = entries[:, 0] == entries[:, 1]
        linear = np.zeros(n)
        np.add.at(linear, entries[diagonal, 0], -values[diagonal])
        off = ~diagonal
        bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
            linear,
            (entries[off, 0], entries[off, 1], -2.0 * values[off]),
            0.0,
            dimod.BINARY,
            variable_order=range(n),
        )
        name = f"{reader.path.stem}-{index}"
        instances.append(BeasleyInstance(name, index, n, m, bqm, entries, values))
    extra = reader.rest()
    if extra is not None:
        raise reader.fail(f"more data after the {count} instances the file announces.", extra[0])
    return instances


# --------------------------------------------------------------------------- JSON


def write_bqm_json(bqm: dimod.BinaryQuadraticModel, path: PathLike) -> None:
    """Write ``bqm`` as JSON (dimod's ``to_serializable`` schema; labels may be str/int/tuple)."""
    bqm = validate_bqm(bqm)
    with Path(path).open("w", encoding="utf-8") as handle:
        json.dump(bqm.to_serializable(), handle)
        handle.write("\n")


def read_bqm_json(path: PathLike) -> dimod.BinaryQuadraticModel:
    """Read a BQM written by :func:`write_bqm_json` (or any ``to_serializable`` JSON).

    Every field is checked before the model is built: the schema version, ``use_bytes``
    (JSON cannot carry bytes), the vartype, labels (distinct, of the kinds dimod writes),
    biases and offset (finite numbers), interaction indices (in range, no self-loops), and
    the declared ``num_variables`` / ``num_interactions`` against the lists.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InvalidProblem(
            f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})."
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidProblem(f"{path}: is not UTF-8 text ({exc.reason}).") from None
    except RecursionError:
        raise InvalidProblem(f"{path}: nested too deeply to be a serialised model.") from None
    kind = data.get("type") if isinstance(data, dict) else type(data).__name__
    if kind != "BinaryQuadraticModel":
        raise InvalidProblem(
            f"{path}: line 1: holds {kind!r}, not a serialised BinaryQuadraticModel; write it "
            "with qcore.io.write_bqm_json."
        )
    return validate_bqm(_bqm_from_record(data, f"{path}: line 1"), name=str(path))


def _label(value: Any) -> Any:
    """A label as dimod serialises it (str, int, float, or lists of those for tuples)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list) and len(value) < 1000:
        return tuple(_label(item) for item in value)
    raise TypeError(f"{value!r}"[:60])


def _reals(record: Mapping[str, Any], key: str, where: str) -> list[float]:
    values = record.get(key)
    if not isinstance(values, list):
        raise InvalidProblem(f"{where}: {key} must be a list of numbers.")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidProblem(f"{where}: {key}[{i}] is {v!r}; every bias must be finite.")
    return values


def _indices(record: Mapping[str, Any], key: str, n: int, where: str) -> list[int]:
    values = record.get(key)
    if not isinstance(values, list):
        raise InvalidProblem(f"{where}: {key} must be a list of variable indices.")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
            raise InvalidProblem(
                f"{where}: {key}[{i}] is {v!r}; it must be an index in 0..{n - 1} of "
                "variable_labels."
            )
    return values


def _bqm_from_record(record: Mapping[str, Any], where: str) -> dimod.BinaryQuadraticModel:
    """A BQM from dimod's ``to_serializable`` schema (2.x/3.x, ``use_bytes=False``)."""
    version = record.get("version", {})
    schema = version.get("bqm_schema") if isinstance(version, dict) else None
    major = schema.split(".")[0] if isinstance(schema, str) else None
    if major not in ("2", "3"):
        raise InvalidProblem(
            f"{where}: version.bqm_schema is {schema!r}; qcore reads dimod's schemas 2.x and "
            "3.x (re-save the model with a current dimod: bqm.to_serializable())."
        )
    if record.get("use_bytes", False) is not False:
        raise InvalidProblem(
            f"{where}: use_bytes is {record.get('use_bytes')!r}; JSON cannot carry bytes, "
            "write it with to_serializable(use_bytes=False)."
        )
    vartype = record.get("variable_type")
    if vartype not in ("SPIN", "BINARY"):
        raise InvalidProblem(f"{where}: variable_type is {vartype!r}; use 'SPIN' or 'BINARY'.")
    raw_labels = record.get("variable_labels")
    if not isinstance(raw_labels, list):
        raise InvalidProblem(f"{where}: variable_labels must be a list.")
    labels = []
    for i, raw in enumerate(raw_labels):
        try:
            labels.append(_label(raw))
        except (TypeError, RecursionError) as exc:
            raise InvalidProblem(
                f"{where}: variable_labels[{i}] is {exc}; labels are strings, integers, "
                "finite numbers or lists of them (tuples)."
            ) from None
    if len(set(labels)) != len(labels):
        seen: dict[Any, int] = {}
        for i, label in enumerate(labels):
            if label in seen:
                raise InvalidProblem(
                    f"{where}: variable_labels[{i}] ({raw_labels[i]!r}) is the same variable as "
                    f"variable_labels[{seen[label]}] ({raw_labels[seen[label]]!r}); every "
                    "label must be distinct."
                )
            seen[label] = i
    n = len(labels)
    linear = _reals(record, "linear_biases", where)
    if len(linear) != n:
        raise InvalidProblem(
            f"{where}: {len(linear)} linear_biases for {n} variable_labels; give one each."
        )
    quadratic = _reals(record, "quadratic_biases", where)
    head = _indices(record, "quadratic_head", n, where)
    tail = _indices(record, "quadratic_tail", n, where)
    if not len(quadratic) == len(head) == len(tail):
        raise InvalidProblem(
            f"{where}: quadratic_biases, quadratic_head and quadratic_tail have lengths "
            f"{len(quadratic)}, {len(head)}, {len(tail)}; they must be equal."
        )
    for i, (u, v) in enumerate(zip(head, tail, strict=True)):
        if u == v:
            raise InvalidProblem(f"{where}: interaction {i} joins variable {u} with itself.")
    for key, actual in (("num_variables", n), ("num_interactions", len(quadratic))):
        if key in record and (
            isinstance(record[key], bool)
            or not isinstance(record[key], int)
            or record[key] != actual
        ):
            raise InvalidProblem(
                f"{where}: {key} is {record[key]!r} but the lists hold {actual}; the file is "
                "damaged."
            )
    offset = record.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int | float) or not math.isfinite(offset):
        raise InvalidProblem(f"{where}: offset is {offset!r}; it must be a finite number.")
    return dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.asarray(linear, dtype=np.float64),
        (
            np.asarray(head, dtype=np.int64),
            np.asarray(tail, dtype=np.int64),
            np.asarray(quadratic, dtype=np.float64),
        ),
        float(offset),
        vartype,
        variable_order=labels,
    )
