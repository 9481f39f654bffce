"""Benchmark files in, models out: G-set (rudy) max-cut, Beasley OR-Library BQP, BQM JSON.

* :func:`read_gset` gives a SPIN BQM with ``J_ij = w_ij`` (variables ``0..n-1``, the file's
  1-based nodes minus one), so minimising the energy ``E(s) = sum_edges w_ij s_i s_j``
  maximises the cut: ``cut(s) = (W - E(s)) / 2`` with ``W`` the total edge weight.
* :func:`read_beasley` gives one BINARY BQM per instance that *minimises* ``-x'Qx``
  (``Q`` symmetric: each listed off-diagonal ``q_ij`` stands at ``(i, j)`` and ``(j, i)``), so
  the quadratic bias is ``-2 q_ij`` and the linear bias ``-q_ii``; the best-known values of the
  literature are ``max x'Qx = -min energy``.
* :func:`write_bqm_json` / :func:`read_bqm_json` use dimod's own serialisation
  (``BinaryQuadraticModel.to_serializable`` / ``from_serializable``).

Malformed files raise ``InvalidProblem`` naming the file and the line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import dimod
import numpy as np

from qcore.errors import InvalidProblem
from qcore.validation import validate_bqm

__all__ = [
    "BeasleyInstance",
    "GsetInstance",
    "read_beasley",
    "read_bqm_json",
    "read_gset",
    "write_bqm_json",
]

PathLike = str | os.PathLike


# --------------------------------------------------------------------------- helpers


def _numbered_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, tokens) of each non-blank line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidProblem(
            f"{path}: is not ASCII/UTF-8 text ({exc.reason} at byte {exc.start}); if it is "
            "UTF-16, re-save it as ASCII."
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if tokens:
            yield number, tokens


class _Reader:
    """Walks a file's non-blank lines, turning bad tokens into InvalidProblem(file, line)."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._lines = _numbered_lines(self.path)
        self.line = 0

    def fail(self, message: str, line: int | None = None) -> InvalidProblem:
        return InvalidProblem(f"{self.path}: line {self.line if line is None else line}: {message}")

    def next(self, count: int, what: str) -> list[str]:
        try:
            self.line, tokens = next(self._lines)
        except StopIteration:
            raise InvalidProblem(
                f"{self.path}: ends after line {self.line}, expected {what}; the file is truncated."
            ) from None
        if len(tokens) != count:
            raise self.fail(f"expected {what} ({count} numbers), got {' '.join(tokens)!r}.")
        return tokens

    def rest(self) -> tuple[int, list[str]] | None:
        return next(self._lines, None)

    def integer(self, token: str, what: str, low: int, high: int | None = None) -> int:
        try:
            value = int(token)
        except ValueError:
            raise self.fail(f"{what} {token!r} is not an integer.") from None
        if value < low or (high is not None and value > high):
            bound = f"in {low}..{high}" if high is not None else f">= {low}"
            raise self.fail(f"{what} is {value}; it must be {bound}.")
        return value

    def number(self, token: str, what: str) -> float:
        try:
            value = float(token)
        except ValueError:
            raise self.fail(f"{what} {token!r} is not a number.") from None
        if not math.isfinite(value):
            raise self.fail(f"{what} is {token}; it must be finite.")
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


def read_gset(path: PathLike) -> GsetInstance:
    """Read a G-set file: first line ``n m``, then ``m`` lines ``i j w`` (1-based, undirected)."""
    reader = _Reader(path)
    header = reader.next(2, "a header 'n m'")
    n = reader.integer(header[0], "node count n", 1)
    m = reader.integer(header[1], "edge count m", 0)
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


def read_beasley(path: PathLike) -> list[BeasleyInstance]:
    """Read an OR-Library ``bqp*.txt`` file: a count, then per instance ``n m`` and ``m`` lines
    ``i j q`` (1-based). Instances are named ``<file stem>-<k>`` (e.g. ``bqp50-1``)."""
    reader = _Reader(path)
    count = reader.integer(reader.next(1, "the number of instances")[0], "instance count", 1)
    instances = []
    for index in range(1, count + 1):
        header = reader.next(2, f"instance {index}'s header 'n m'")
        n = reader.integer(header[0], f"instance {index}: n", 1)
        m = reader.integer(header[1], f"instance {index}: m", 0)
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
    """Read a BQM written by :func:`write_bqm_json` (or any ``to_serializable`` JSON)."""
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
    kind = data.get("type") if isinstance(data, dict) else type(data).__name__
    if kind != "BinaryQuadraticModel":
        raise InvalidProblem(
            f"{path}: line 1: holds {kind!r}, not a serialised BinaryQuadraticModel; write it "
            "with qcore.io.write_bqm_json."
        )
    try:
        bqm = dimod.BinaryQuadraticModel.from_serializable(data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvalidProblem(
            f"{path}: line 1: a BinaryQuadraticModel record that dimod cannot read "
            f"({type(exc).__name__}: {exc})."
        ) from None
    return validate_bqm(bqm, name=str(path))
