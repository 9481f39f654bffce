"""Server-side aggregation of client updates: parameter dicts ``name -> np.ndarray``.

The tensors that travel in federated DP-LoRA are the LoRA factors and the classification head,
so an update is a ``dict[str, np.ndarray]`` and every client sends the same keys and shapes.

* :func:`fedavg` — ``sum_c w_c x_c / sum_c w_c`` per tensor, ``w_c`` usually the client's
  number of examples (McMahan et al. 2017). One corrupted client moves it without bound.
* :func:`coordinate_median` — the median of each coordinate over clients (Yin et al. 2018):
  robust while fewer than half the clients are corrupted; ignores the weights.
* :func:`trimmed_mean` — per coordinate, drop the ``floor(trim_fraction * n)`` largest and
  smallest values and average the rest (Yin et al. 2018); ``trim_fraction=0`` is the plain
  mean. With few clients ``floor`` may trim nothing (n=5 needs ``trim_fraction >= 0.2``).

All three compute in float64 and return each tensor in its input dtype when that is a floating
type (float32 in, float32 out), else float64. Inputs are checked first (``InvalidConfig``
naming the client index and tensor): no updates, differing keys or shapes, NaN/inf values,
weights that are negative, non-finite or sum to zero, ``trim_fraction`` outside ``[0, 0.5)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from qfed.errors import InvalidConfig

__all__ = ["METHODS", "aggregate", "coordinate_median", "fedavg", "trimmed_mean"]

Update = Mapping[str, np.ndarray]
METHODS = ("fedavg", "median", "trimmed_mean")


def _check_updates(updates: object) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """Arrays per client (unchanged dtypes) and the shared key order, else InvalidConfig."""
    if isinstance(updates, Mapping) or not isinstance(updates, Sequence):
        raise InvalidConfig(
            f"updates: expected a sequence of dicts name -> array (one per client), got "
            f"{type(updates).__name__}."
        )
    if len(updates) == 0:
        raise InvalidConfig("updates: is empty; pass at least one client update.")
    clients: list[dict[str, np.ndarray]] = []
    for c, update in enumerate(updates):
        if not isinstance(update, Mapping):
            raise InvalidConfig(
                f"updates[{c}]: expected a dict name -> array, got {type(update).__name__}."
            )
        arrays: dict[str, np.ndarray] = {}
        for name, value in update.items():
            array = np.asarray(value)
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
                raise InvalidConfig(
                    f"updates[{c}]['{name}']: has dtype {array.dtype}; send numeric arrays."
                )
            arrays[name] = array
        clients.append(arrays)
    keys = list(clients[0])
    if not keys:
        raise InvalidConfig("updates[0]: has no tensors; every update needs at least one.")
    reference = set(keys)
    for c, arrays in enumerate(clients[1:], start=1):
        if set(arrays) != reference:
            missing = sorted(reference - set(arrays))
            extra = sorted(set(arrays) - reference)
            raise InvalidConfig(
                f"updates[{c}]: keys differ from updates[0]: missing {missing}, extra {extra}; "
                "every client must send the same tensors."
            )
    for name in keys:
        shape = clients[0][name].shape
        for c, arrays in enumerate(clients[1:], start=1):
            if arrays[name].shape != shape:
                raise InvalidConfig(
                    f"updates[{c}]['{name}']: has shape {arrays[name].shape} but updates[0] "
                    f"has {shape}; clients must share the model's tensor shapes."
                )
    for c, arrays in enumerate(clients):
        for name in keys:
            if not np.all(np.isfinite(arrays[name])):
                raise InvalidConfig(
                    f"updates[{c}]['{name}']: holds NaN or inf; drop that client's update (or "
                    "lower its learning rate / clip its gradients) before aggregating."
                )
    return clients, keys


def _out_dtype(clients: Sequence[Mapping[str, np.ndarray]], name: str) -> np.dtype:
    dtype = np.result_type(*(arrays[name].dtype for arrays in clients))
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _stack(clients: Sequence[Mapping[str, np.ndarray]], name: str) -> np.ndarray:
    return np.stack([np.asarray(arrays[name], dtype=np.float64) for arrays in clients])


def _check_weights(weights: object, n: int) -> np.ndarray:
    if isinstance(weights, str | bytes | Mapping) or not isinstance(weights, Sequence | np.ndarray):
        raise InvalidConfig(
            f"weights: expected a sequence of {n} numbers (e.g. examples per client), got "
            f"{type(weights).__name__}."
        )
    values = list(weights)
    if len(values) != n:
        raise InvalidConfig(
            f"weights: has {len(values)} entries for {n} updates; pass one weight per client."
        )
    out = np.empty(n)
    for c, w in enumerate(values):
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise InvalidConfig(f"weights[{c}]: expected a number, got {type(w).__name__}.")
        value = float(w)
        if not math.isfinite(value) or value < 0:
            raise InvalidConfig(f"weights[{c}]: is {value}; weights must be finite and >= 0.")
        out[c] = value
    if out.sum() <= 0:
        raise InvalidConfig(
            "weights: sum to 0; give at least one client a positive weight (its example count)."
        )
    return out


def _check_trim(trim_fraction: object) -> float:
    if isinstance(trim_fraction, bool) or not isinstance(trim_fraction, numbers.Real):
        raise InvalidConfig(
            f"trim_fraction: expected a number in [0, 0.5), got {type(trim_fraction).__name__}."
        )
    value = float(trim_fraction)
    if not 0.0 <= value < 0.5:  # NaN fails this too
        raise InvalidConfig(
            f"trim_fraction: is {value}; it must be in [0, 0.5) (the share trimmed from each "
            "end, so at least one value per coordinate is kept)."
        )
    return value


def fedavg(updates: Sequence[Update], weights: Sequence[float]) -> dict[str, np.ndarray]:
    """Weighted mean of each tensor: ``sum_c w_c x_c / sum_c w_c`` (weights: examples)."""
    clients, keys = _check_updates(updates)
    w = _check_weights(weights, len(clients))
    w = w / w.sum()
    return {
        name: np.tensordot(w, _stack(clients, name), axes=1).astype(_out_dtype(clients, name))
        for name in keys
    }


def coordinate_median(updates: Sequence[Update]) -> dict[str, np.ndarray]:
    """Median of each coordinate over clients (even count: mean of the middle two)."""
    clients, keys = _check_updates(updates)
    return {
        name: np.median(_stack(clients, name), axis=0).astype(_out_dtype(clients, name))
        for name in keys
    }


def trimmed_mean(updates: Sequence[Update], trim_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Per coordinate, the mean after dropping ``floor(trim_fraction * n)`` values each end."""
    trim = _check_trim(trim_fraction)
    clients, keys = _check_updates(updates)
    n = len(clients)
    cut = math.floor(trim * n)
    result = {}
    for name in keys:
        ordered = np.sort(_stack(clients, name), axis=0)
        kept = ordered[cut : n - cut]  # cut < n / 2, so at least one value remains
        result[name] = kept.mean(axis=0).astype(_out_dtype(clients, name))
    return result


def aggregate(
    updates: Sequence[Update],
    weights: Sequence[float] | None = None,
    method: Literal["fedavg", "median", "trimmed_mean"] = "fedavg",
    trim_fraction: float = 0.1,
) -> dict[str, np.ndarray]:
    """Aggregate with ``method``. ``weights`` (``None``: equal) are used by ``fedavg`` only;
    when given they are still checked, so a bad payload fails the same way for every method.
    ``trim_fraction`` is used by ``trimmed_mean`` only."""
    if method not in METHODS:
        raise InvalidConfig(f"method: is {method!r}; use one of {', '.join(METHODS)}.")
    if method == "fedavg":
        n = len(updates) if isinstance(updates, Sequence) else 0
        return fedavg(updates, [1.0] * n if weights is None else weights)
    if weights is not None:
        _check_weights(weights, len(_check_updates(updates)[0]))
    if method == "median":
        return coordinate_median(updates)
    return trimmed_mean(updates, trim_fraction)
