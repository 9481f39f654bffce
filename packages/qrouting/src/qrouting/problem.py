"""Validated routing problems: scores in, affinities, capacity and locality out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qrouting.errors import CapacityError, InvalidRouting

OnOverflow = Literal["drop", "raise"]
MAX_CAPACITY = 2**62  # capacities live in int64 arrays; any C >= T already means "no limit"
ScoreKind = Literal["logits", "affinity"]


def _from_torch(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        return x.detach().cpu().numpy()
    return x


def to_numpy(x: Any, *, name: str = "scores") -> np.ndarray:
    """A float64 numpy copy of ``x`` (numpy, nested lists, or a torch tensor on any device).

    Only numbers are read: strings, booleans, ``None`` and ragged lists are refused rather
    than converted (``"1.5"`` is not a score, ``True`` is not 1)."""
    x = _from_torch(x)
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidRouting(
            f"{name}: cannot read as a float array ({exc}); pass a [T, E] numpy array or tensor."
        ) from None
    if raw.dtype.kind not in "iuf":
        raise InvalidRouting(
            f"{name}: cannot read as a float array (its entries are {raw.dtype}, not numbers); "
            "pass a [T, E] numpy array or tensor of numbers."
        )
    return np.array(raw, dtype=np.float64)


def integer_ids(x: Any, *, name: str) -> np.ndarray:
    """A 1-D int64 copy of integer ids; floats are refused, never truncated."""
    x = _from_torch(x)
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidRouting(f"{name}: cannot read as integers ({exc}).") from None
    if raw.dtype.kind == "u" and raw.size and raw.max() > np.iinfo(np.int64).max:
        raise InvalidRouting(f"{name}: ids above 2^63 - 1 do not fit in 64-bit integers.")
    if raw.dtype.kind not in "iu" or raw.ndim != 1:
        raise InvalidRouting(
            f"{name}: expected a 1-D array of integers, got shape {raw.shape} dtype {raw.dtype}; "
            "ids are never rounded, so pass whole numbers as integers."
        )
    return raw.astype(np.int64)


def check_real(name: str, value: object) -> float:
    """A finite real number (not a bool, not a string)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InvalidRouting(f"{name}: {value!r} is not a number; pass e.g. 1.25.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRouting(f"{name}: {value!r}; it must be a finite number.")
    return number


def capacity_for(num_tokens: int, num_experts: int, k: int, capacity_factor: float) -> int:
    """``C = ceil(k * T / E * cf)`` (rounded to 9 decimals first, so 2048.0000000001 -> 2048)."""
    return max(1, math.ceil(round(k * num_tokens / num_experts * capacity_factor, 9)))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


@dataclass(frozen=True)
class Locality:
    """Where tokens come from and where experts live, and what a hop costs.

    ``token_device[t]`` and ``expert_device[e]`` are device (GPU or node) ids; ``hops[a, b]``
    is the number of hops from device ``a`` to ``b`` (default: 0 on the same device, else 1).
    Routing value is ``affinity - cost_per_hop * hops``.
    """

    token_device: np.ndarray
    expert_device: np.ndarray
    cost_per_hop: float = 0.0
    hops: np.ndarray | None = None

    def __post_init__(self) -> None:
        devices = {}
        for name in ("token_device", "expert_device"):
            arr = _from_torch(getattr(self, name))
            try:
                arr = np.asarray(arr)
            except (TypeError, ValueError, OverflowError):
                arr = np.asarray(None)
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any():
                raise InvalidRouting(
                    f"locality.{name}: expected a 1-D array of non-negative integer device ids, "
                    f"got shape {arr.shape} dtype {arr.dtype}."
                )
            if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
                raise InvalidRouting(f"locality.{name}: device ids must fit in 64-bit integers.")
            devices[name] = arr.astype(np.int64)
        td, ed = devices["token_device"], devices["expert_device"]
        cost = check_real("locality.cost_per_hop", self.cost_per_hop)
        if cost < 0:
            raise InvalidRouting(
                f"locality.cost_per_hop: {self.cost_per_hop!r}; pass a finite number >= 0."
            )
        hops = None
        if self.hops is not None:
            n_dev = int(max(td.max(initial=0), ed.max(initial=0))) + 1
            try:
                hops = np.asarray(_from_torch(self.hops))
            except (TypeError, ValueError, OverflowError):
                hops = np.asarray(None)
            if hops.dtype.kind not in "iuf":
                raise InvalidRouting(
                    f"locality.hops: expected a square [D, D] matrix of hop counts (numbers), "
                    f"got dtype {hops.dtype}."
                )
            hops = hops.astype(np.float64)
            if hops.ndim != 2 or hops.shape[0] != hops.shape[1] or hops.shape[0] < n_dev:
                raise InvalidRouting(
                    f"locality.hops: expected a square [D, D] matrix with D >= {n_dev} "
                    f"(the largest device id + 1), got shape {hops.shape}."
                )
            if not np.all(np.isfinite(hops)) or (hops < 0).any():
                raise InvalidRouting("locality.hops: every hop count must be finite and >= 0.")
            if hops.size and not math.isfinite(cost * float(hops.max())):
                raise InvalidRouting(
                    f"locality.cost_per_hop: {cost:g} x {float(hops.max()):g} hops overflows; "
                    "use smaller costs or hop counts."
                )
        object.__setattr__(self, "token_device", td)
        object.__setattr__(self, "expert_device", ed)
        object.__setattr__(self, "cost_per_hop", cost)
        object.__setattr__(self, "hops", hops)

    def hop_matrix(self) -> np.ndarray:
        """``[T, E]`` hops from each token's device to each expert's device (without a
        ``hops`` matrix: 0 on the same device, else 1, with no ``[D, D]`` matrix built)."""
        if self.hops is None:
            return (self.token_device[:, None] != self.expert_device[None, :]).astype(np.float64)
        return self.hops[self.token_device][:, self.expert_device]


@dataclass
class RoutingProblem:
    """A validated routing problem. Build it with :meth:`from_scores` (or the loader).

    ``affinity`` is ``[T, E]`` and non-negative (softmax of logits, or given affinities);
    ``value`` is what routers maximise: affinity minus the locality cost, if any.
    """

    affinity: np.ndarray
    k: int
    capacity: int
    capacity_factor: float
    on_overflow: OnOverflow = "drop"
    locality: Locality | None = None
    token_ids: np.ndarray | None = None
    logits: np.ndarray | None = None
    _value: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_tokens(self) -> int:
        return int(self.affinity.shape[0])

    @property
    def num_experts(self) -> int:
        return int(self.affinity.shape[1])

    @property
    def slots(self) -> int:
        return self.num_experts * self.capacity

    @property
    def demand(self) -> int:
        return self.num_tokens * self.k

    @property
    def overflow(self) -> int:
        """Assignments that cannot be placed at all (``T * k - E * C``, at least 0)."""
        return max(0, self.demand - self.slots)

    @property
    def value(self) -> np.ndarray:
        if self._value is None:
            if self.locality is None or self.locality.cost_per_hop == 0:
                self._value = self.affinity
            else:
                cost = self.locality.cost_per_hop * self.locality.hop_matrix()
                self._value = self.affinity - cost
        return self._value

    @classmethod
    def from_scores(
        cls,
        scores: Any,
        k: int = 1,
        capacity_factor: float = 1.0,
        *,
        capacity: int | None = None,
        scores_are: ScoreKind = "logits",
        on_overflow: OnOverflow = "drop",
        locality: Locality | None = None,
        token_ids: Any = None,
    ) -> RoutingProblem:
        """Validate and build. ``scores`` are router logits (softmaxed per token) or, with
        ``scores_are="affinity"``, non-negative affinities used as they are."""
        arr = to_numpy(scores)
        if arr.ndim != 2:
            raise InvalidRouting(
                f"scores: expected a 2-D [tokens, experts] array, got shape {arr.shape}; "
                "flatten batch and sequence dimensions first (x.reshape(-1, num_experts))."
            )
        T, E = arr.shape
        if T == 0:
            raise InvalidRouting("scores: empty batch (0 tokens); route at least one token.")
        if E == 0:
            raise InvalidRouting("scores: 0 experts; the second dimension must be >= 1.")
        if not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise InvalidRouting(
                f"scores: entry [{bad[0]}, {bad[1]}] is {arr[bad[0], bad[1]]}; every score must "
                "be finite (check the router for overflow or a division by zero)."
            )
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidRouting(f"k: {k!r}; it must be a positive integer.")
        k = int(k)
        if k > E:
            raise InvalidRouting(
                f"k: {k} is larger than the number of experts ({E}); a token cannot go to the "
                f"same expert twice. Use k <= {E}."
            )
        if scores_are not in ("logits", "affinity"):
            raise InvalidRouting(f"scores_are: {scores_are!r}; use 'logits' or 'affinity'.")
        if on_overflow not in ("drop", "raise"):
            raise InvalidRouting(f"on_overflow: {on_overflow!r}; use 'drop' or 'raise'.")
        cf = check_real("capacity_factor", capacity_factor)
        if cf <= 0:
            raise InvalidRouting(f"capacity_factor: {capacity_factor!r}; it must be > 0.")
        if capacity is None:
            if k * T / E * cf > MAX_CAPACITY:
                raise InvalidRouting(
                    f"capacity_factor: {capacity_factor!r} gives a capacity above 2^62; any "
                    f"capacity_factor >= {E / k:g} (capacity >= {T} tokens) already means no limit."
                )
            cap = capacity_for(T, E, k, cf)
        else:
            if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer):
                raise InvalidRouting(f"capacity: {capacity!r}; pass a positive integer or None.")
            if capacity < 1:
                raise InvalidRouting(f"capacity: {capacity}; it must be >= 1.")
            if capacity > MAX_CAPACITY:
                raise InvalidRouting(
                    f"capacity: {capacity} is above 2^62; any capacity >= {T} (the number of "
                    "tokens) already means no limit."
                )
            cap = int(capacity)
        if scores_are == "logits":
            logits = arr
            affinity = softmax(arr.copy())
        else:
            if (arr < 0).any():
                raise InvalidRouting(
                    "scores: affinities must be >= 0 with scores_are='affinity'; pass raw router "
                    "outputs with scores_are='logits' (they are softmaxed per token)."
                )
            logits = None
            affinity = arr
        if locality is not None:
            if not isinstance(locality, Locality):
                raise InvalidRouting("locality: pass a qrouting.Locality(token_device, ...).")
            if locality.token_device.shape != (T,):
                raise InvalidRouting(
                    f"locality.token_device: length {locality.token_device.shape[0]} but the "
                    f"batch has {T} tokens; give one device id per token."
                )
            if locality.expert_device.shape != (E,):
                raise InvalidRouting(
                    f"locality.expert_device: length {locality.expert_device.shape[0]} but "
                    f"there are {E} experts; give one device id per expert."
                )
        ids = None
        if token_ids is not None:
            ids = integer_ids(token_ids, name="token_ids")
            if ids.shape != (T,):
                raise InvalidRouting(
                    f"token_ids: shape {ids.shape}, expected ({T},): one id per token."
                )
        problem = cls(affinity, k, cap, cf, on_overflow, locality, ids, logits)
        if on_overflow == "raise" and problem.overflow:
            raise CapacityError(
                f"capacity: {E} experts x capacity {cap} = {problem.slots} slots, but {T} tokens "
                f"x k={k} need {problem.demand}; {problem.overflow} assignments would be dropped. "
                f"Use capacity_factor >= 1.0 (capacity >= {math.ceil(k * T / E)}) or pass "
                "on_overflow='drop' to drop them (the plan lists what was dropped).",
                slots=problem.slots,
                demand=problem.demand,
            )
        return problem
