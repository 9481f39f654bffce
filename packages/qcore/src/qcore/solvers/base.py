"""What every qcore solver shares: parameter checks, validation, seeds and deadlines."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import dimod
import numpy as np

from qcore.errors import InvalidProblem, UnknownParameter
from qcore.validation import validate_bqm

COMMON_PARAMETERS: dict[str, list] = {"seed": [], "time_limit": []}


class QcoreSampler(dimod.Sampler):
    """A ``dimod.Sampler`` that rejects unknown keyword arguments instead of dropping them.

    Subclasses set ``name``, list their own keyword arguments in ``solver_parameters`` and
    implement ``_sample(bqm, **params)``. ``sample`` validates the model, checks the arguments
    and records the wall time in ``SampleSet.info["timing"]["wall_s"]``.
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
        self.check_parameters(params)
        time_limit = params.get("time_limit")
        if time_limit is not None:
            params["time_limit"] = check_time_limit(time_limit)
        start = time.perf_counter()
        sampleset = self._sample(bqm, **params)
        sampleset.info.setdefault("timing", {})["wall_s"] = time.perf_counter() - start
        sampleset.info.setdefault("solver", self.name)
        return sampleset

    def check_parameters(self, params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise UnknownParameter(
                f"solver {self.name!r} does not accept {unknown}; "
                f"its parameters are {sorted(self.parameters)}."
            )

    def _sample(self, bqm: dimod.BinaryQuadraticModel, **params: Any) -> dimod.SampleSet:
        raise NotImplementedError


def check_time_limit(time_limit: object) -> float:
    try:
        value = float(time_limit)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidProblem(
            f"time_limit: {time_limit!r} is not a number of seconds; pass e.g. time_limit=10."
        ) from None
    if not np.isfinite(value) or value <= 0:
        raise InvalidProblem(
            f"time_limit: {time_limit!r}; it must be a positive number of seconds."
        )
    return value


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidProblem(f"{name}: {value!r}; it must be a positive integer.")
    return int(value)


def make_rng(seed: object) -> np.random.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise InvalidProblem(f"seed: {seed!r}; pass an integer or None.")
    if seed is not None and seed < 0:
        raise InvalidProblem(f"seed: {seed!r}; it must be non-negative.")
    return np.random.default_rng(seed)


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
