"""What every qcore solver shares: parameter checks, validation, seeds and deadlines.

Every parameter is checked here, at qcore's boundary, before dwave-samplers, scipy, torch or
a circuit simulator sees it: a bad value raises ``InvalidProblem`` naming the parameter and
what to pass instead, never a dependency's own ``TypeError`` and never a silent coercion
(``True`` is not 1 second, ``2.5`` is not 2 reads).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import dimod
import numpy as np

from qcore.errors import InvalidProblem, UnknownParameter
from qcore.validation import validate_bqm

COMMON_PARAMETERS: dict[str, list] = {"seed": [], "time_limit": []}
C_INT_MAX = 2**31 - 1  # dwave-samplers passes counts and seeds to C as 32-bit integers
SAMPLE_BYTES_LIMIT = 2**31  # samples a solver may be asked to hold (2 GiB of int8 values)
EMPTY_MODEL_NOTE = (
    "the model has no variables: its only assignment is the empty one, whose energy is the "
    "offset (dimod's convention)"
)


class QcoreSampler(dimod.Sampler):
    """A ``dimod.Sampler`` that rejects unknown keyword arguments instead of dropping them.

    Subclasses set ``name``, list their own keyword arguments in ``solver_parameters``,
    check the values they were given in ``_check(params)`` (model-independent checks; it
    returns the normalised values) and implement ``_sample(bqm, **params)``. ``sample``
    validates the model, checks the arguments and records the wall time in
    ``SampleSet.info["timing"]["wall_s"]``. A model without variables never reaches
    ``_sample``: it gets one row with the offset as its energy (dimod's convention).
    """

    name: ClassVar[str] = ""
    solver_parameters: ClassVar[dict[str, list]] = {}
    #: the extra that provides this solver's optional dependencies, if any
    extra: ClassVar[str | None] = None

    @property
    def parameters(self) -> dict[str, list]:
        return {**COMMON_PARAMETERS, **self.solver_parameters}

    @property
    def properties(self) -> dict[str, Any]:
        return {"name": self.name, "extra": self.extra}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` when the solver can run here, else why not (and what to install)."""
        return None

    def sample(self, bqm: dimod.BinaryQuadraticModel, **params: Any) -> dimod.SampleSet:
        bqm = validate_bqm(bqm)
        params = self.check_values(params)
        start = time.perf_counter()
        if bqm.num_variables == 0:
            sampleset = empty_model_sampleset(bqm)
        else:
            sampleset = self._sample(bqm, **params)
        sampleset.info.setdefault("timing", {})["wall_s"] = time.perf_counter() - start
        sampleset.info.setdefault("solver", self.name)
        return sampleset

    def check_parameters(self, params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - set(self.parameters), key=str)
        if unknown:
            raise UnknownParameter(
                f"solver {self.name!r} does not accept {unknown}; "
                f"its parameters are {sorted(self.parameters)}."
            )

    def check_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Names and values of ``params`` checked (model-independent checks); normalised."""
        self.check_parameters(params)
        out = dict(params)
        if out.get("time_limit") is not None:
            out["time_limit"] = check_time_limit(out["time_limit"])
        if "seed" in out:
            out["seed"] = check_seed(out["seed"])
        return self._check(out)

    def _check(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check this solver's own values (only those given); return them normalised."""
        return params

    def _sample(self, bqm: dimod.BinaryQuadraticModel, **params: Any) -> dimod.SampleSet:
        raise NotImplementedError


def empty_model_sampleset(bqm: dimod.BinaryQuadraticModel) -> dimod.SampleSet:
    """The one (empty) assignment of a model without variables; its energy is the offset."""
    sampleset = dimod.SampleSet.from_samples_bqm((np.empty((1, 0), dtype=np.int8), []), bqm)
    sampleset.info.update({"proven_optimal": True, "note": EMPTY_MODEL_NOTE})
    return sampleset


# --------------------------------------------------------------------------- value checks


def _is_integer(value: object) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | np.integer)


def _is_real(value: object) -> bool:
    return (
        not isinstance(value, bool | np.bool_)
        and isinstance(value, numbers.Real)
        and not isinstance(value, str)
    )


def check_time_limit(time_limit: object) -> float:
    if not _is_real(time_limit):
        raise InvalidProblem(
            f"time_limit: {time_limit!r} is not a number of seconds; pass e.g. time_limit=10."
        )
    value = float(time_limit)  # type: ignore[arg-type]
    if not math.isfinite(value) or value <= 0:
        raise InvalidProblem(
            f"time_limit: {time_limit!r}; it must be a positive number of seconds."
        )
    return value


def check_seed(seed: object) -> int | None:
    if seed is None:
        return None
    if not _is_integer(seed):
        raise InvalidProblem(f"seed: {seed!r}; pass an integer or None.")
    if seed < 0:  # type: ignore[operator]
        raise InvalidProblem(f"seed: {seed!r}; it must be non-negative.")
    return int(seed)  # type: ignore[arg-type]


def check_positive_int(name: str, value: object, *, maximum: int | None = None) -> int:
    if not _is_integer(value) or value < 1:  # type: ignore[operator]
        raise InvalidProblem(f"{name}: {value!r}; it must be a positive integer.")
    if maximum is not None and value > maximum:  # type: ignore[operator]
        raise InvalidProblem(f"{name}: {value!r}; it must be at most {maximum:,}.")
    return int(value)  # type: ignore[arg-type]


def check_nonnegative_int(name: str, value: object, *, maximum: int | None = None) -> int:
    if not _is_integer(value) or value < 0:  # type: ignore[operator]
        raise InvalidProblem(f"{name}: {value!r}; it must be an integer >= 0.")
    if maximum is not None and value > maximum:  # type: ignore[operator]
        raise InvalidProblem(f"{name}: {value!r}; it must be at most {maximum:,}.")
    return int(value)  # type: ignore[arg-type]


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    hint: str = "",
) -> float:
    """A finite real number (not a bool or a string) in ``[low, high]`` (``(low, high]`` with
    ``low_open``)."""
    bounds = ""
    if low is not None and high is not None:
        bounds = f" in {'(' if low_open else '['}{low:g}, {high:g}]"
    elif low is not None:
        bounds = f" {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        bounds = f" <= {high:g}"
    message = f"{name}: {value!r}; it must be a finite number{bounds}{hint}."
    if not _is_real(value):
        raise InvalidProblem(message)
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise InvalidProblem(message)
    if low is not None and (number < low or (low_open and number == low)):
        raise InvalidProblem(message)
    if high is not None and number > high:
        raise InvalidProblem(message)
    return number


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InvalidProblem(f"{name}: {value!r}; pass True or False.")
    return bool(value)


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise InvalidProblem(f"{name}: {value!r}; use one of {', '.join(map(repr, options))}.")
    return value


def check_str(name: str, value: object, hint: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidProblem(f"{name}: {value!r}; pass a non-empty string ({hint}).")
    return value


def check_mapping(name: str, value: object, *, reserved: Mapping[str, str] | None = None) -> dict:
    """A mapping with string keys (``None``: empty); ``reserved`` keys -> why not allowed."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidProblem(
            f"{name}: {value!r}; pass a dict of keyword arguments, e.g. {{'num_reads': 10}}."
        )
    bad = [key for key in value if not isinstance(key, str)]
    if bad:
        raise InvalidProblem(f"{name}: keys {bad!r} are not parameter names (strings).")
    for key, why in (reserved or {}).items():
        if key in value:
            raise InvalidProblem(f"{name}: {key!r} cannot be given here; {why}")
    return dict(value)


def check_sample_memory(name: str, rows: int, width: int, bytes_per_value: int = 1) -> None:
    """Refuse a request for more samples than fit in ``SAMPLE_BYTES_LIMIT``."""
    need = rows * max(width, 1) * bytes_per_value
    if need > SAMPLE_BYTES_LIMIT:
        raise InvalidProblem(
            f"{name}: {rows:,} rows of {width:,} variables would need {need / 2**30:,.1f} GiB "
            f"(the limit is {SAMPLE_BYTES_LIMIT / 2**30:g} GiB); ask for fewer."
        )


def check_initial_states(
    initial_states: object, bqm: dimod.BinaryQuadraticModel, name: str = "initial_states"
) -> tuple[np.ndarray, list[Hashable]]:
    """``initial_states`` as ``(array [k, n], labels)``: readable by ``dimod.as_samples``, with
    exactly the model's variables and values of its vartype (no silent 0/1 <-> +-1 change)."""
    if isinstance(initial_states, dimod.SampleSet):
        array, labels = initial_states.record.sample, list(initial_states.variables)
    else:
        try:
            array, labels = dimod.as_samples(initial_states)
        except (TypeError, ValueError, KeyError) as exc:
            raise InvalidProblem(
                f"{name}: could not read as samples ({exc}); pass a dict {{variable: value}}, "
                "a list of them, a (array, labels) pair or a dimod.SampleSet."
            ) from None
    labels = list(labels)
    if np.ndim(array) != 2 or len(array) == 0:
        raise InvalidProblem(f"{name}: no states given; pass at least one state or leave it out.")
    if len(set(labels)) != len(labels) or set(labels) != set(bqm.variables):
        raise InvalidProblem(
            f"{name}: its variables do not match the model's ({len(labels)} given, model has "
            f"{bqm.num_variables}); give one value for every variable of the model."
        )
    allowed = {-1, 1} if bqm.vartype is dimod.SPIN else {0, 1}
    values = set(np.unique(np.asarray(array)).tolist())
    if not values <= allowed:
        raise InvalidProblem(
            f"{name}: values {sorted(values - allowed, key=str)[:5]} are not "
            f"{bqm.vartype.name} values; use {sorted(allowed)} for this model."
        )
    return np.asarray(array, dtype=np.int8), labels


def check_real_sequence(name: str, value: object, length: int | None = None) -> list[float]:
    """A flat sequence of finite real numbers (of ``length``, when given)."""
    if isinstance(value, np.ndarray):
        items: list[Any] | None = value.tolist() if value.ndim == 1 else None
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = list(value)
    else:
        items = None
    count = f"{length} numbers" if length is not None else "numbers"
    if items is None or not all(_is_real(v) and math.isfinite(float(v)) for v in items):
        raise InvalidProblem(f"{name}: {value!r}; pass a flat list of finite {count}.")
    if length is not None and len(items) != length:
        raise InvalidProblem(f"{name}: {len(items)} numbers given, expected {length}.")
    return [float(v) for v in items]


def make_rng(seed: object) -> np.random.Generator:
    return np.random.default_rng(check_seed(seed))


class Deadline:
    """A wall-clock budget: ``Deadline(None)`` never expires."""

    def __init__(self, seconds: float | None) -> None:
        self.start = time.perf_counter()
        self.seconds = seconds

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds - (time.perf_counter() - self.start)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
