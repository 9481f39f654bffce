"""Shared argument checks: member predictions, labels, counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from qensemble.errors import EmptyEnsemble, InvalidParameter, MemberShapeMismatch

__all__ = ["check_int", "check_labels", "check_probs"]


def check_probs(probs: Any, field: str = "probs") -> np.ndarray:
    """Member class probabilities as a finite float64 ``[members, samples, classes]`` array.

    A list of per-member arrays whose shapes differ raises :class:`MemberShapeMismatch`
    naming the first member that disagrees.
    """
    if isinstance(probs, list | tuple):
        if len(probs) == 0:
            raise EmptyEnsemble(f"{field}: has no members; pass one prediction array per member.")
        arrays = [np.asarray(p, dtype=np.float64) for p in probs]
        for i, a in enumerate(arrays[1:], start=1):
            if a.shape != arrays[0].shape:
                raise MemberShapeMismatch(
                    f"{field}[{i}]: has shape {a.shape} but {field}[0] has {arrays[0].shape}; "
                    "every member must predict [samples, classes] for the same samples."
                )
        array = np.stack(arrays)
    else:
        array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 3:
        raise MemberShapeMismatch(
            f"{field}: has shape {array.shape}; pass [members, samples, classes]."
        )
    if array.shape[0] == 0:
        raise EmptyEnsemble(f"{field}: has no members; pass one prediction array per member.")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise MemberShapeMismatch(f"{field}: has shape {array.shape}; no samples or no classes.")
    if not np.all(np.isfinite(array)):
        member = int(np.argwhere(~np.isfinite(array))[0][0])
        raise InvalidParameter(f"{field}[{member}]: contains NaN or inf; pass finite scores.")
    return array


def check_labels(y: Any, n: int, classes: int, field: str = "y") -> np.ndarray:
    labels = np.asarray(y)
    if labels.shape != (n,):
        raise MemberShapeMismatch(
            f"{field}: has shape {labels.shape}; pass one label per sample ({n})."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise InvalidParameter(f"{field}: labels must be integers 0..{classes - 1}.")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise InvalidParameter(
            f"{field}: labels must be in 0..{classes - 1} (the members predict {classes} classes)."
        )
    return labels.astype(np.int64)


def check_int(value: Any, field: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameter(f"{field}: is {value!r}; pass an integer.")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise InvalidParameter(f"{field}: is {value}; pass an integer >= {minimum}{upper}.")
    return int(value)
