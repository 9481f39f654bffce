"""Search spaces: float (linear/log), int, categorical and conditional parameters.

A space has two numeric views used by the optimisers:

- the *flat* view, one coordinate in [0, 1] per parameter (categorical: ``floor(u * k)``),
  which random search, Sobol and the Born machine sample in;
- the *feature* view the Gaussian process models: one column per numeric parameter (log
  parameters in log space, ints on their grid) and a one-hot block per categorical. A
  parameter that is inactive (its condition fails) sits at a fixed value, so two configurations
  that differ only in inactive parameters are the same point for the GP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qhpo.errors import InvalidSpace

__all__ = ["Categorical", "Float", "Int", "Param", "Space", "load_space"]

Scalar = str | int | float | bool | None
_INACTIVE = 0.5  # feature value of an inactive numeric parameter (centre of the cube)


def _number(name: str, key: str, value: object) -> float:
    # YAML 1.1 reads "1e-5" as a string; a numeric string is the number the user wrote
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InvalidSpace(
                f"{name}.{key}: {value!r} is not a number; write e.g. 0.001"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpace(f"{name}.{key}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidSpace(f"{name}.{key}: must be finite, got {value}")
    return float(value)


@dataclass(frozen=True)
class Param:
    """Base of every parameter: a name and an optional condition ``(parent, allowed values)``."""

    name: str
    condition: tuple[str, tuple[Scalar, ...]] | None = field(default=None, kw_only=True)

    def _check_name(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidSpace(
                f"name: a parameter needs a non-empty string name, got {self.name!r}"
            )

    @property
    def width(self) -> int:
        """Number of feature columns."""
        return 1

    def contains(self, value: object) -> bool:
        raise NotImplementedError

    def coerce(self, value: object) -> Any:
        """``value`` as this parameter's type, or ``InvalidSpace`` naming the parameter."""
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    def to_unit(self, value: Any) -> float:
        raise NotImplementedError

    def features(self, value: Any) -> list[float]:
        return [self.to_unit(value)]

    def from_features(self, f: np.ndarray) -> Any:
        return self.from_unit(float(f[0]))

    def to_spec(self) -> dict[str, Any]:
        raise NotImplementedError

    def _condition_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        if self.condition is not None:
            spec["condition"] = {self.condition[0]: list(self.condition[1])}
        return spec


@dataclass(frozen=True)
class Float(Param):
    """A real parameter in ``[low, high]``; ``log=True`` searches ``log(value)`` uniformly."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False

    def __post_init__(self) -> None:
        self._check_name()
        low, high = _number(self.name, "low", self.low), _number(self.name, "high", self.high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if not low < high:
            raise InvalidSpace(f"{self.name}: low ({low}) must be below high ({high})")
        if self.log and low <= 0:
            raise InvalidSpace(f"{self.name}: a log parameter needs low > 0, got {low}")

    def _t(self, v: float) -> float:
        return math.log(v) if self.log else v

    def contains(self, value: object) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.low <= value <= self.high
        )

    def coerce(self, value: object) -> float:
        v = _number(self.name, "value", value)
        if not self.low <= v <= self.high:
            raise InvalidSpace(f"{self.name}: {v} is outside [{self.low}, {self.high}]")
        return v

    def from_unit(self, u: float) -> float:
        u = min(max(u, 0.0), 1.0)
        lo, hi = self._t(self.low), self._t(self.high)
        t = lo + u * (hi - lo)
        v = math.exp(t) if self.log else t
        return min(max(v, self.low), self.high)

    def to_unit(self, value: Any) -> float:
        lo, hi = self._t(self.low), self._t(self.high)
        return (self._t(float(value)) - lo) / (hi - lo)

    def to_spec(self) -> dict[str, Any]:
        return self._condition_spec(
            {"type": "float", "low": self.low, "high": self.high, "log": self.log}
        )


@dataclass(frozen=True)
class Int(Param):
    """An integer parameter in ``[low, high]`` (both included); ``log=True`` as for Float."""

    low: int = 0
    high: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        self._check_name()
        for key in ("low", "high"):
            v = _number(self.name, key, getattr(self, key))
            if v != int(v):
                raise InvalidSpace(f"{self.name}.{key}: an int parameter needs integers, got {v}")
            object.__setattr__(self, key, int(v))
        if not self.low < self.high:
            raise InvalidSpace(f"{self.name}: low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise InvalidSpace(f"{self.name}: a log parameter needs low > 0, got {self.low}")

    def _t(self, v: float) -> float:
        return math.log(v) if self.log else v

    def contains(self, value: object) -> bool:
        return (
            isinstance(value, int | np.integer)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def coerce(self, value: object) -> int:
        v = _number(self.name, "value", value)
        if v != int(v):
            raise InvalidSpace(f"{self.name}: {v} is not an integer")
        if not self.low <= v <= self.high:
            raise InvalidSpace(f"{self.name}: {int(v)} is outside [{self.low}, {self.high}]")
        return int(v)

    def from_unit(self, u: float) -> int:
        u = min(max(u, 0.0), 1.0)
        # widen the range by half a step each side so the end values get a full share
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            v = math.exp(lo + u * (hi - lo))
        else:
            v = self.low - 0.5 + u * (self.high - self.low + 1.0)
        return int(min(max(round(v), self.low), self.high))

    def to_unit(self, value: Any) -> float:
        lo, hi = self._t(self.low), self._t(self.high)
        return (self._t(float(value)) - lo) / (hi - lo)

    def from_features(self, f: np.ndarray) -> int:
        lo, hi = self._t(self.low), self._t(self.high)
        t = lo + min(max(float(f[0]), 0.0), 1.0) * (hi - lo)
        v = math.exp(t) if self.log else t
        return int(min(max(round(v), self.low), self.high))

    def to_spec(self) -> dict[str, Any]:
        return self._condition_spec(
            {"type": "int", "low": self.low, "high": self.high, "log": self.log}
        )


@dataclass(frozen=True)
class Categorical(Param):
    """One of ``choices`` (strings, numbers, booleans or None), unordered."""

    choices: tuple[Scalar, ...] = ()

    def __post_init__(self) -> None:
        self._check_name()
        if isinstance(self.choices, str | bytes) or not isinstance(self.choices, Iterable):
            raise InvalidSpace(f"{self.name}.choices: expected a list of values")
        choices = tuple(self.choices)
        object.__setattr__(self, "choices", choices)
        if not choices:
            raise InvalidSpace(f"{self.name}.choices: needs at least one choice")
        for c in choices:
            if not (c is None or isinstance(c, str | int | float | bool)):
                raise InvalidSpace(
                    f"{self.name}.choices: {c!r} is not a string, number, boolean or null"
                )
            if isinstance(c, float) and not math.isfinite(c):
                raise InvalidSpace(f"{self.name}.choices: {c} is not finite")
        keys = [self._key(c) for c in choices]
        if len(set(keys)) != len(keys):
            raise InvalidSpace(f"{self.name}.choices: has duplicates {list(choices)}")

    @staticmethod
    def _key(c: object) -> tuple[str, object]:
        # True == 1 in Python; keep them apart so a choice is never silently another
        return (type(c).__name__, c)

    @property
    def width(self) -> int:
        return len(self.choices)

    def index(self, value: object) -> int:
        key = self._key(value)
        for i, c in enumerate(self.choices):
            if self._key(c) == key:
                return i
        raise InvalidSpace(f"{self.name}: {value!r} is not one of {list(self.choices)}")

    def contains(self, value: object) -> bool:
        try:
            self.index(value)
        except InvalidSpace:
            return False
        return True

    def coerce(self, value: object) -> Scalar:
        if self.contains(value):
            return value  # type: ignore[return-value]
        # CSV cells are strings: match a choice by its text, only when exactly one matches
        if isinstance(value, str):
            hits = [c for c in self.choices if str(c) == value or json.dumps(c) == value]
            if len(hits) == 1:
                return hits[0]
        raise InvalidSpace(f"{self.name}: {value!r} is not one of {list(self.choices)}")

    def from_unit(self, u: float) -> Scalar:
        k = len(self.choices)
        return self.choices[min(int(min(max(u, 0.0), 1.0) * k), k - 1)]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def features(self, value: Any) -> list[float]:
        out = [0.0] * len(self.choices)
        out[self.index(value)] = 1.0
        return out

    def from_features(self, f: np.ndarray) -> Scalar:
        return self.choices[int(np.argmax(f))]

    def to_spec(self) -> dict[str, Any]:
        return self._condition_spec({"type": "categorical", "choices": list(self.choices)})


_TYPES: dict[str, type[Param]] = {"float": Float, "int": Int, "categorical": Categorical}


def _param_from_spec(name: str, spec: object) -> Param:
    if not isinstance(spec, Mapping):
        raise InvalidSpace(f"{name}: expected a mapping like {{type: float, low: 0, high: 1}}")
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in _TYPES:
        raise InvalidSpace(f"{name}.type: expected one of {sorted(_TYPES)}, got {kind!r}")
    condition = spec.pop("condition", None)
    cond: tuple[str, tuple[Scalar, ...]] | None = None
    if condition is not None:
        if not isinstance(condition, Mapping) or len(condition) != 1:
            raise InvalidSpace(f"{name}.condition: expected one entry {{parent: [values]}}")
        ((parent, values),) = condition.items()
        if not isinstance(values, list | tuple):
            values = [values]
        cond = (str(parent), tuple(values))
    allowed = {"float": {"low", "high", "log"}, "int": {"low", "high", "log"}}.get(
        kind, {"choices"}
    )
    unknown = set(spec) - allowed
    if unknown:
        raise InvalidSpace(
            f"{name}: unknown keys {sorted(unknown)}; {kind} takes {sorted(allowed)}"
        )
    missing = allowed - {"log"} - set(spec)
    if missing:
        raise InvalidSpace(f"{name}: missing {sorted(missing)}")
    if "log" in spec and not isinstance(spec["log"], bool):
        raise InvalidSpace(f"{name}.log: expected true or false, got {spec['log']!r}")
    return _TYPES[kind](name, condition=cond, **spec)


class Space:
    """An ordered, validated set of parameters (conditions refer to earlier parameters)."""

    def __init__(self, params: Sequence[Param]) -> None:
        params = list(params)
        if not params:
            raise InvalidSpace("space: it has no parameters; add at least one")
        names: dict[str, Param] = {}
        for p in params:
            if not isinstance(p, Param):
                raise InvalidSpace(f"space: {p!r} is not a Float, Int or Categorical")
            if p.name in names:
                raise InvalidSpace(f"{p.name}: defined twice; parameter names must be unique")
            if p.condition is not None:
                parent_name, values = p.condition
                parent = names.get(parent_name)
                if parent is None:
                    raise InvalidSpace(
                        f"{p.name}.condition: parent {parent_name!r} must be defined before it"
                    )
                if not values:
                    raise InvalidSpace(f"{p.name}.condition: needs at least one parent value")
                for v in values:
                    try:
                        parent.coerce(v)
                    except InvalidSpace:
                        raise InvalidSpace(
                            f"{p.name}.condition: {v!r} is not a value of {parent_name!r}"
                        ) from None
            names[p.name] = p
        self.params: tuple[Param, ...] = tuple(params)
        self._by_name = names
        offsets = np.cumsum([0] + [p.width for p in params])
        self._slices = {
            p.name: slice(int(a), int(b))
            for p, a, b in zip(params, offsets, offsets[1:], strict=False)
        }
        self.n_features = int(offsets[-1])

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Space:
        """A space from ``{name: {type: float|int|categorical, ...}}`` (JSON/YAML shape)."""
        if not isinstance(spec, Mapping):
            raise InvalidSpace("space: expected a mapping of parameter names to definitions")
        if "params" in spec and isinstance(spec["params"], Mapping) and len(spec) == 1:
            spec = spec["params"]
        return cls([_param_from_spec(str(name), s) for name, s in spec.items()])

    def to_dict(self) -> dict[str, Any]:
        return {p.name: p.to_spec() for p in self.params}

    # --- queries --------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"Space({list(self.params)!r})"

    def is_active(self, p: Param, config: Mapping[str, Any]) -> bool:
        if p.condition is None:
            return True
        parent, values = p.condition
        if parent not in config:
            return False
        pp = self._by_name[parent]
        return any(pp.coerce(v) == config[parent] for v in values)

    def validate(self, config: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
        """``config`` coerced to the space: unknown/missing active names or bad values raise."""
        if not isinstance(config, Mapping):
            raise InvalidSpace(f"{where}: expected a mapping of parameter names to values")
        unknown = set(config) - set(self._by_name)
        if unknown:
            raise InvalidSpace(f"{where}: unknown parameters {sorted(map(str, unknown))}")
        out: dict[str, Any] = {}
        for p in self.params:
            if not self.is_active(p, out):
                continue
            if p.name not in config:
                raise InvalidSpace(f"{where}: missing active parameter {p.name!r}")
            try:
                out[p.name] = p.coerce(config[p.name])
            except InvalidSpace as exc:
                raise InvalidSpace(f"{where}: {exc}") from None
        return out

    # --- views ----------------------------------------------------------------------------
    def from_flat(self, u: Sequence[float]) -> dict[str, Any]:
        """A configuration from one [0, 1] coordinate per parameter (inactive ones dropped)."""
        out: dict[str, Any] = {}
        for p, ui in zip(self.params, u, strict=True):
            if self.is_active(p, out):
                out[p.name] = p.from_unit(float(ui))
        return out

    def to_flat(self, config: Mapping[str, Any]) -> np.ndarray:
        return np.array(
            [p.to_unit(config[p.name]) if p.name in config else _INACTIVE for p in self.params]
        )

    def features(self, config: Mapping[str, Any]) -> np.ndarray:
        """The GP's view of ``config`` (inactive parameters at a fixed value)."""
        out = np.zeros(self.n_features)
        for p in self.params:
            s = self._slices[p.name]
            if p.name in config:
                out[s] = p.features(config[p.name])
            elif isinstance(p, Categorical):
                out[s] = 0.0
            else:
                out[s] = _INACTIVE
        return out

    def features_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``features`` of each configuration, as rows; numeric columns vectorised (the GP
        optimiser converts every trial at every suggestion)."""
        out = np.zeros((len(configs), self.n_features))
        if not configs:
            return out
        for p in self.params:
            s = self._slices[p.name]
            name = p.name
            if isinstance(p, Categorical):
                for i, c in enumerate(configs):
                    if name in c:
                        out[i, s.start + p.index(c[name])] = 1.0
                continue
            assert isinstance(p, Float | Int)
            lo, hi = p._t(p.low), p._t(p.high)
            rows = [i for i, c in enumerate(configs) if name in c]
            if len(rows) == len(configs):
                v = np.array([float(c[name]) for c in configs])
                out[:, s.start] = ((np.log(v) if p.log else v) - lo) / (hi - lo)
            else:
                out[:, s.start] = _INACTIVE
                if rows:
                    v = np.array([float(configs[i][name]) for i in rows])
                    out[rows, s.start] = ((np.log(v) if p.log else v) - lo) / (hi - lo)
        return out

    def from_features(self, f: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.params:
            if self.is_active(p, out):
                out[p.name] = p.from_features(f[self._slices[p.name]])
        return out

    def feature_slice(self, name: str) -> slice:
        return self._slices[name]

    def sample(self, rng: np.random.Generator, n: int = 1) -> list[dict[str, Any]]:
        """``n`` configurations drawn uniformly (log parameters log-uniformly)."""
        return [self.from_flat(u) for u in rng.random((n, len(self.params)))]


def load_space(source: str | Path | Mapping[str, Any] | Space) -> Space:
    """A space from a Space, a dict, or a ``.json`` / ``.yaml`` / ``.yml`` file."""
    if isinstance(source, Space):
        return source
    if isinstance(source, Mapping):
        return Space.from_dict(source)
    path = Path(source)
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidSpace(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    elif path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidSpace(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    else:
        raise InvalidSpace(f"{path}: expected a .json, .yaml or .yml file")
    if data is None:
        raise InvalidSpace(f"{path}: the file is empty; define at least one parameter")
    return Space.from_dict(data)
