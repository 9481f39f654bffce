"""Updates as a [workers, dim] matrix: from an array or from a list of state dicts, and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qensemble.errors import EmptyEnsemble, InvalidUpdates

__all__ = ["Layout", "Updates", "as_matrix", "check_finite_vector", "restore"]

Updates = np.ndarray | Sequence[Mapping[str, Any]] | Sequence[np.ndarray]


@dataclass(frozen=True)
class Layout:
    """How a flat vector maps back to a state dict (``None`` keys: the input was a matrix)."""

    keys: tuple[str, ...] | None
    shapes: tuple[tuple[int, ...], ...]
    kinds: tuple[str, ...]  # "torch.<dtype>" or "numpy:<dtype>" per key: output matches input


def _to_numpy(value: Any, field: str) -> tuple[np.ndarray, str]:
    kind = "numpy:" + str(getattr(value, "dtype", "float64"))
    if hasattr(value, "detach") and hasattr(
        value, "cpu"
    ):  # a torch tensor, without importing torch
        kind = str(value.dtype)  # e.g. "torch.float32", restored as such
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidUpdates(f"{field}: is not numeric ({exc}); pass arrays or tensors.") from None
    return array, kind


def as_matrix(updates: Updates, field: str = "updates") -> tuple[np.ndarray, Layout]:
    """``updates`` as a finite float64 ``[workers, dim]`` matrix and the layout to restore it."""
    if isinstance(updates, Mapping):
        raise InvalidUpdates(
            f"{field}: is one state dict; pass a list of state dicts (one per worker)."
        )
    if isinstance(updates, np.ndarray) or (
        isinstance(updates, Sequence) and updates and not isinstance(updates[0], Mapping)
    ):
        matrix, _ = _to_numpy(updates, field)
        if matrix.ndim != 2:
            raise InvalidUpdates(
                f"{field}: has shape {matrix.shape}; pass a [workers, dim] array "
                "(or a list of state dicts)."
            )
        if matrix.shape[0] == 0:
            raise EmptyEnsemble(f"{field}: has no workers; pass at least one update.")
        if matrix.shape[1] == 0:
            raise InvalidUpdates(f"{field}: has dimension 0; pass updates with parameters.")
        _check_finite(matrix, field)
        return matrix, Layout(None, (), ())
    if not isinstance(updates, Sequence) or isinstance(updates, str | bytes):
        raise InvalidUpdates(
            f"{field}: got {type(updates).__name__}; pass a [workers, dim] array or a list of "
            "state dicts."
        )
    if len(updates) == 0:
        raise EmptyEnsemble(f"{field}: has no workers; pass at least one update.")
    first = updates[0]
    keys = tuple(first.keys())
    if not keys:
        raise InvalidUpdates(f"{field}[0]: is an empty state dict; pass parameters.")
    rows = []
    shapes: tuple[tuple[int, ...], ...] = ()
    kinds: tuple[str, ...] = ()
    for w, state in enumerate(updates):
        if not isinstance(state, Mapping):
            raise InvalidUpdates(
                f"{field}[{w}]: is {type(state).__name__}, not a state dict; do not mix kinds."
            )
        if tuple(state.keys()) != keys:
            missing = sorted(set(keys) ^ set(state.keys()))
            raise InvalidUpdates(
                f"{field}[{w}]: keys differ from {field}[0] (e.g. {missing[:3]}); every worker "
                "must send the same parameters in the same order."
            )
        parts = []
        these_shapes = []
        these_kinds = []
        for key in keys:
            array, kind = _to_numpy(state[key], f"{field}[{w}][{key!r}]")
            parts.append(array.ravel())
            these_shapes.append(tuple(array.shape))
            these_kinds.append(kind)
        if w == 0:
            shapes, kinds = tuple(these_shapes), tuple(these_kinds)
        elif tuple(these_shapes) != shapes:
            bad = next(k for k, a, b in zip(keys, these_shapes, shapes, strict=True) if a != b)
            raise InvalidUpdates(
                f"{field}[{w}][{bad!r}]: shape differs from {field}[0]; every worker must send "
                "the same architecture."
            )
        rows.append(np.concatenate(parts) if parts else np.zeros(0))
    matrix = np.stack(rows)
    _check_finite(matrix, field, keys, shapes)
    return matrix, Layout(keys, shapes, kinds)


def _check_finite(
    matrix: np.ndarray,
    field: str,
    keys: tuple[str, ...] | None = None,
    shapes: tuple[tuple[int, ...], ...] = (),
) -> None:
    bad = ~np.isfinite(matrix)
    if not bad.any():
        return
    worker, column = (int(i) for i in np.argwhere(bad)[0])
    where = f"{field}[{worker}]"
    if keys is not None:
        offset = 0
        for key, shape in zip(keys, shapes, strict=True):
            size = int(np.prod(shape)) if shape else 1
            if column < offset + size:
                where += f"[{key!r}]"
                break
            offset += size
    else:
        where += f"[{column}]"
    raise InvalidUpdates(
        f"{where}: is {matrix[worker, column]}; updates must be finite (drop or zero that "
        "worker's update before aggregating)."
    )


def check_finite_vector(vector: np.ndarray, field: str) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise InvalidUpdates(f"{field}: contains NaN or inf; pass finite values.")
    return array


def restore(vector: np.ndarray, layout: Layout) -> Any:
    """A flat aggregate back in the input's form: a vector, or a state dict of the same kinds."""
    if layout.keys is None:
        return vector
    out: dict[str, Any] = {}
    offset = 0
    for key, shape, kind in zip(layout.keys, layout.shapes, layout.kinds, strict=True):
        size = int(np.prod(shape)) if shape else 1
        part = vector[offset : offset + size].reshape(shape)
        offset += size
        if kind.startswith("torch."):
            import torch

            dtype = getattr(torch, kind.split(".", 1)[1])
            if not dtype.is_floating_point:  # counters (BatchNorm's num_batches_tracked)
                part = np.rint(part)
            out[key] = torch.as_tensor(part).to(dtype)
        else:
            dtype = np.dtype(kind.split(":", 1)[1]) if ":" in kind else np.float64
            if not np.issubdtype(dtype, np.floating):
                part = np.rint(part)
            out[key] = part.astype(dtype)
    return out
