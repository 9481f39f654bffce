"""dwave-samplers' simulated annealing, tabu search and steepest descent as qcore solvers.

These are the field's standard classical baselines; we wrap them (rather than rewrite them)
to give them qcore's contract: strict parameters, a wall-clock ``time_limit`` and seeds.
"""

from __future__ import annotations

from typing import Any, ClassVar

import dimod
import numpy as np
from dwave.samplers import SimulatedAnnealingSampler, TabuSampler
from dwave.samplers import SteepestDescentSolver as DwaveSteepestDescent

from qcore.errors import InvalidProblem
from qcore.solvers.base import (
    C_INT_MAX,
    Deadline,
    QcoreSampler,
    check_choice,
    check_initial_states,
    check_nonnegative_int,
    check_positive_int,
    check_real_sequence,
    check_sample_memory,
    make_rng,
)

MAX_KEPT = 100  # samples kept from a time-limited run (the lowest-energy ones)


def dwave_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))  # dwave-samplers rejects seeds >= 2^31


BETA_SCHEDULES = ("geometric", "linear")


def check_reads(params: dict) -> None:
    """``num_reads``: a positive count; ``None`` is the solver's default."""
    if params.get("num_reads") is None:
        params.pop("num_reads", None)
    else:
        params["num_reads"] = check_positive_int(
            "num_reads", params["num_reads"], maximum=C_INT_MAX
        )


def checked_initial_states(bqm: dimod.BinaryQuadraticModel, kwargs: dict[str, Any]) -> None:
    """Replace ``kwargs["initial_states"]`` by a checked ``(array, labels)`` pair."""
    if kwargs.get("initial_states") is not None:
        kwargs["initial_states"] = check_initial_states(kwargs["initial_states"], bqm)
    else:
        kwargs.pop("initial_states", None)


def keep_lowest(samplesets: list[dimod.SampleSet], limit: int = MAX_KEPT) -> dimod.SampleSet:
    merged = dimod.concatenate(samplesets) if len(samplesets) > 1 else samplesets[0]
    if len(merged) <= limit:
        return merged
    return merged.truncate(limit)


class SimulatedAnnealingSolver(QcoreSampler):
    """dwave-samplers simulated annealing. With ``time_limit`` and no ``num_reads`` it keeps
    annealing (one read per call) until the budget is spent and returns the best reads."""

    name: ClassVar[str] = "sa"
    solver_parameters: ClassVar[dict[str, list]] = {
        "num_reads": [],
        "num_sweeps": [],
        "beta_range": [],
        "beta_schedule_type": [],
        "initial_states": [],
    }

    def _check(self, params: dict) -> dict:
        check_reads(params)
        if "num_sweeps" in params:
            params["num_sweeps"] = check_positive_int(
                "num_sweeps", params["num_sweeps"], maximum=C_INT_MAX
            )
        for name in ("beta_range", "beta_schedule_type"):  # None: dwave-samplers' default
            if name in params and params[name] is None:
                del params[name]
        if "beta_range" in params:
            betas = check_real_sequence("beta_range", params["beta_range"], 2)
            if min(betas) <= 0:
                raise InvalidProblem(
                    f"beta_range: {params['beta_range']!r}; both inverse temperatures must be "
                    "> 0 (hot end first, e.g. [0.1, 10])."
                )
            params["beta_range"] = betas
        if "beta_schedule_type" in params:
            check_choice("beta_schedule_type", params["beta_schedule_type"], BETA_SCHEDULES)
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        num_reads: int | None = None,
        num_sweeps: int = 1000,
        seed: int | None = None,
        time_limit: float | None = None,
        **kwargs: Any,
    ) -> dimod.SampleSet:
        rng = make_rng(seed)
        checked_initial_states(bqm, kwargs)
        sampler = SimulatedAnnealingSampler()
        if time_limit is None or num_reads is not None:
            reads = 10 if num_reads is None else num_reads
            check_sample_memory("num_reads", reads, bqm.num_variables)
            deadline = Deadline(time_limit)
            ss = sampler.sample(
                bqm,
                num_reads=reads,
                num_sweeps=num_sweeps,
                seed=dwave_seed(rng),
                interrupt_function=deadline.expired,
                **kwargs,
            )
            return ss
        deadline = Deadline(time_limit)
        sets = []
        while not sets or not deadline.expired():
            sets.append(
                sampler.sample(
                    bqm, num_reads=1, num_sweeps=num_sweeps, seed=dwave_seed(rng), **kwargs
                )
            )
        return keep_lowest(sets)


class TabuSolver(QcoreSampler):
    """dwave-samplers multistart tabu search (MST2). ``time_limit`` is shared by the reads."""

    name: ClassVar[str] = "tabu"
    solver_parameters: ClassVar[dict[str, list]] = {
        "num_reads": [],
        "tenure": [],
        "timeout": [],
        "num_restarts": [],
        "initial_states": [],
    }

    def _check(self, params: dict) -> dict:
        check_reads(params)
        if params.get("timeout") is not None:
            params["timeout"] = check_positive_int("timeout", params["timeout"], maximum=C_INT_MAX)
            if params.get("time_limit") is not None:
                raise InvalidProblem(
                    "timeout and time_limit: give one; timeout is milliseconds per read, "
                    "time_limit seconds for the whole call."
                )
        for name in ("tenure", "num_restarts"):  # None: dwave-samplers' default
            if name in params and params[name] is None:
                del params[name]
        if "tenure" in params:
            params["tenure"] = check_nonnegative_int("tenure", params["tenure"])
        if "num_restarts" in params:
            params["num_restarts"] = check_nonnegative_int(
                "num_restarts", params["num_restarts"], maximum=C_INT_MAX
            )
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        num_reads: int = 1,
        seed: int | None = None,
        time_limit: float | None = None,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> dimod.SampleSet:
        check_sample_memory("num_reads", num_reads, bqm.num_variables)
        tenure = kwargs.get("tenure")
        if tenure is not None and tenure >= bqm.num_variables:
            raise InvalidProblem(
                f"tenure: {tenure}; it must be below the number of variables "
                f"({bqm.num_variables}), e.g. tenure={max(0, bqm.num_variables // 4)}."
            )
        checked_initial_states(bqm, kwargs)
        if time_limit is not None:
            timeout = max(1, int(time_limit * 1000 / num_reads))
        elif timeout is None:
            timeout = 100
        rng = make_rng(seed)
        return TabuSampler().sample(
            bqm, num_reads=num_reads, timeout=timeout, seed=dwave_seed(rng), **kwargs
        )


class SteepestDescentSolver(QcoreSampler):
    """dwave-samplers steepest descent: a fast local-minimum polish from given or random states."""

    name: ClassVar[str] = "descent"
    solver_parameters: ClassVar[dict[str, list]] = {"num_reads": [], "initial_states": []}

    def _check(self, params: dict) -> dict:
        check_reads(params)
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        num_reads: int | None = None,
        seed: int | None = None,
        time_limit: float | None = None,  # one pass is fast; accepted for a uniform API
        **kwargs: Any,
    ) -> dimod.SampleSet:
        checked_initial_states(bqm, kwargs)
        if num_reads is not None:
            kwargs["num_reads"] = num_reads
        elif "initial_states" not in kwargs:
            kwargs["num_reads"] = 10
        check_sample_memory("num_reads", kwargs.get("num_reads", 1), bqm.num_variables)
        rng = make_rng(seed)
        return DwaveSteepestDescent().sample(bqm, seed=dwave_seed(rng), **kwargs)
