"""Job communication graphs: a ranks x ranks matrix of bytes sent, read or generated.

``T[i, j]`` is the bytes rank ``i`` sends to rank ``j`` in one communication step (all
transfers of a step run concurrently). Generators follow the algorithms' real volumes:
a ring all-reduce of ``S`` bytes over ``k`` ranks sends ``2 (k - 1) / k * S`` to the next rank
(reduce-scatter then all-gather); a tree all-reduce sends ``S`` up and ``S`` down each tree
edge; an all-to-all sends ``S / k`` to every other rank.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from pathlib import Path

import numpy as np

from qnvlink.errors import InvalidTraffic, MalformedFile

__all__ = [
    "all_to_all",
    "check_traffic",
    "halo",
    "parallel_3d",
    "read_traffic",
    "ring_allreduce",
    "tree_allreduce",
    "write_traffic",
]

MAX_RANKS = 65_536


def check_traffic(matrix: object, field: str = "traffic") -> np.ndarray:
    """A float64 copy of a square, finite, non-negative matrix (zero diagonal), or an error."""
    try:
        array = np.array(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidTraffic(f"{field}: not a numeric matrix ({exc}).") from None
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise InvalidTraffic(
            f"{field}: expected a square ranks x ranks matrix, got shape {array.shape}."
        )
    if array.shape[0] > MAX_RANKS:
        raise InvalidTraffic(f"{field}: {array.shape[0]} ranks; at most {MAX_RANKS} are planned.")
    bad = ~np.isfinite(array)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InvalidTraffic(f"{field}[{i}][{j}]: is {array[i, j]}; bytes must be finite.")
    if (array < 0).any():
        i, j = np.argwhere(array < 0)[0]
        raise InvalidTraffic(f"{field}[{i}][{j}]: is {array[i, j]:g}; bytes must be >= 0.")
    if np.diag(array).any():
        i = int(np.flatnonzero(np.diag(array))[0])
        raise InvalidTraffic(
            f"{field}[{i}][{i}]: is {array[i, i]:g}; a rank sends nothing to itself (set the "
            "diagonal to 0)."
        )
    return array


def _count(value: object, field: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidTraffic(f"{field}: is {value!r}; use an integer >= {minimum}.")
    return int(value)


def _size(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidTraffic(f"{field}: expected bytes as a number, got {type(value).__name__}.")
    if not math.isfinite(float(value)) or value < 0:
        raise InvalidTraffic(f"{field}: is {value!r}; use finite bytes >= 0.")
    return float(value)


def _ring(matrix: np.ndarray, group: list[int], nbytes: float) -> None:
    k = len(group)
    if k < 2:
        return
    for a, b in zip(group, group[1:] + group[:1], strict=True):
        matrix[a, b] += 2 * (k - 1) / k * nbytes


def ring_allreduce(ranks: int, nbytes: float = 1e9) -> np.ndarray:
    """One ring all-reduce of ``nbytes`` over ``ranks`` ranks in rank order."""
    n = _count(ranks, "ranks", 2)
    matrix = np.zeros((n, n))
    _ring(matrix, list(range(n)), _size(nbytes, "nbytes"))
    return matrix


def tree_allreduce(ranks: int, nbytes: float = 1e9) -> np.ndarray:
    """A binary-tree all-reduce: ``nbytes`` up and down every edge of a heap-ordered tree."""
    n = _count(ranks, "ranks", 2)
    size = _size(nbytes, "nbytes")
    matrix = np.zeros((n, n))
    for child in range(1, n):
        parent = (child - 1) // 2
        matrix[child, parent] += size
        matrix[parent, child] += size
    return matrix


def all_to_all(ranks: int, nbytes: float = 1e9) -> np.ndarray:
    """An all-to-all (MoE token exchange): each rank sends ``nbytes / ranks`` to every other."""
    n = _count(ranks, "ranks", 2)
    matrix = np.full((n, n), _size(nbytes, "nbytes") / n)
    np.fill_diagonal(matrix, 0.0)
    return matrix


def parallel_3d(
    pp: int,
    tp: int,
    dp: int,
    *,
    tp_bytes: float = 2e8,
    dp_bytes: float = 1e9,
    pp_bytes: float = 5e7,
    order: str = "tp,dp,pp",
) -> np.ndarray:
    """Pipeline x tensor x data parallel groups (Megatron-style) on ``pp * tp * dp`` ranks.

    Tensor-parallel groups ring-all-reduce ``tp_bytes`` of activations, data-parallel groups
    ring-all-reduce ``dp_bytes`` of gradients, and each pipeline stage sends ``pp_bytes`` to
    the next. ``order`` lists the axes from fastest-varying rank index to slowest
    (Megatron's default keeps tensor-parallel ranks adjacent: ``"tp,dp,pp"``).
    """
    sizes = {"pp": _count(pp, "pp"), "tp": _count(tp, "tp"), "dp": _count(dp, "dp")}
    axes = [a.strip() for a in str(order).split(",")]
    if sorted(axes) != ["dp", "pp", "tp"]:
        raise InvalidTraffic(f"order: is {order!r}; list tp, dp and pp once each, e.g. 'tp,dp,pp'.")
    n = sizes["pp"] * sizes["tp"] * sizes["dp"]
    if n < 2:
        raise InvalidTraffic("pp, tp, dp: their product is 1; a job needs at least 2 ranks.")
    volumes = {
        "tp": _size(tp_bytes, "tp_bytes"),
        "dp": _size(dp_bytes, "dp_bytes"),
        "pp": _size(pp_bytes, "pp_bytes"),
    }
    shape = [sizes[a] for a in reversed(axes)]  # C order: last axis varies fastest
    index = np.arange(n).reshape(shape)
    position = {a: len(axes) - 1 - i for i, a in enumerate(axes)}
    matrix = np.zeros((n, n))
    for axis in ("tp", "dp"):
        groups = np.moveaxis(index, position[axis], -1).reshape(-1, sizes[axis])
        for group in groups:
            _ring(matrix, list(map(int, group)), volumes[axis])
    stages = np.moveaxis(index, position["pp"], -1).reshape(-1, sizes["pp"])
    for chain in stages:
        for a, b in itertools.pairwise(chain):
            matrix[a, b] += volumes["pp"]
            matrix[b, a] += volumes["pp"]  # gradients flow back
    return matrix


def halo(shape: tuple[int, ...], nbytes: float = 1e8, periodic: bool = True) -> np.ndarray:
    """Halo exchange on a 1-3D grid of ranks: ``nbytes`` to each face neighbour."""
    if not isinstance(shape, (tuple, list)) or not 1 <= len(shape) <= 3:
        raise InvalidTraffic(f"shape: is {shape!r}; give 1 to 3 grid dimensions, e.g. (4, 4).")
    dims = [_count(s, f"shape[{i}]") for i, s in enumerate(shape)]
    size = _size(nbytes, "nbytes")
    n = int(np.prod(dims))
    if n < 2:
        raise InvalidTraffic("shape: the grid has one rank; a halo needs at least 2.")
    index = np.arange(n).reshape(dims)
    matrix = np.zeros((n, n))
    for axis, d in enumerate(dims):
        if d < 2:
            continue
        for step in (1, -1):
            neighbour = np.roll(index, -step, axis=axis)
            src, dst = index.ravel(), neighbour.ravel()
            keep = src != dst
            if not periodic:
                coord = np.indices(dims)[axis].ravel()
                keep &= (coord + step >= 0) & (coord + step < d)
            matrix[src[keep], dst[keep]] = size
    return matrix


# --------------------------------------------------------------------------- files


def read_traffic(path: str | Path) -> np.ndarray:
    """A traffic matrix from ``.npy``, ``.csv`` (no header) or ``.json`` (list of rows)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if p.stat().st_size > 512 * 2**20:
        raise MalformedFile(f"{p}: larger than 512 MiB; a traffic file is ranks x ranks numbers.")
    if suffix == ".npy":
        try:
            data = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise MalformedFile(f"{p}: not a readable .npy array ({exc}).") from None
        return check_traffic(data, p.name)
    if suffix not in (".csv", ".json"):
        raise MalformedFile(f"{p}: unknown suffix {suffix!r}; use .npy, .csv or .json.")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedFile(f"{p}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    if suffix == ".json":
        return traffic_from_json(text, p.name)
    return traffic_from_csv(text, p.name)


def traffic_from_json(text: str, field: str = "traffic") -> np.ndarray:
    try:
        data = json.loads(text, parse_constant=_refuse)
    except RecursionError:
        raise MalformedFile(f"{field}: JSON nested too deeply; give a list of rows.") from None
    except InvalidTraffic:
        raise
    except ValueError as exc:  # bad JSON, or an integer beyond Python's digit limit
        raise MalformedFile(f"{field}: not valid JSON ({exc}).") from None
    if isinstance(data, dict):
        data = data.get("traffic", data.get("matrix"))
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise MalformedFile(
            f"{field}: expected a list of rows (or {{'traffic': rows}}) of byte counts."
        )
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InvalidTraffic(f"{field}[{i}][{j}]: is {v!r}; expected a number of bytes.")
    return check_traffic(data, field)


def traffic_from_csv(text: str, field: str = "traffic") -> np.ndarray:
    rows = []
    for i, row in enumerate(csv.reader(io.StringIO(text))):
        if not row or all(not c.strip() for c in row):
            continue
        values = []
        for j, cell in enumerate(row):
            try:
                values.append(float(cell))
            except ValueError:
                raise InvalidTraffic(
                    f"{field}[{i}][{j}]: is {cell!r}; expected a number (no header row)."
                ) from None
        rows.append(values)
    if len({len(r) for r in rows}) > 1:
        raise InvalidTraffic(f"{field}: rows have different lengths; give a square matrix.")
    return check_traffic(rows, field)


def _refuse(value: str) -> float:
    raise InvalidTraffic(f"traffic: {value} is not a byte count; use finite numbers.")


def write_traffic(matrix: np.ndarray, path: str | Path) -> Path:
    p = Path(path)
    array = check_traffic(matrix)
    if p.suffix.lower() == ".npy":
        np.save(p, array)
    elif p.suffix.lower() == ".json":
        p.write_text(json.dumps(array.tolist()))
    else:
        np.savetxt(p, array, delimiter=",", fmt="%.17g")
    return p
