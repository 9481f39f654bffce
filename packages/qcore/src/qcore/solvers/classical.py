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
from qcore.solvers.base import Deadline, QcoreSampler, check_positive_int, make_rng

MAX_KEPT = 100  # samples kept from a time-limited run (the lowest-energy ones)


def dwave_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))  # dwave-samplers rejects seeds >= 2^31


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
        num_sweeps = check_positive_int("num_sweeps", num_sweeps)
        rng = make_rng(seed)
        sampler = SimulatedAnnealingSampler()
        if time_limit is None or num_reads is not None:
            reads = 10 if num_reads is None else check_positive_int("num_reads", num_reads)
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
        num_reads = check_positive_int("num_reads", num_reads)
        if timeout is not None and time_limit is not None:
            raise InvalidProblem(
                "timeout and time_limit: give one; timeout is milliseconds per read, "
                "time_limit seconds for the whole call."
            )
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

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        num_reads: int | None = None,
        seed: int | None = None,
        time_limit: float | None = None,  # one pass is fast; accepted for a uniform API
        **kwargs: Any,
    ) -> dimod.SampleSet:
        if num_reads is not None:
            kwargs["num_reads"] = check_positive_int("num_reads", num_reads)
        elif "initial_states" not in kwargs:
            kwargs["num_reads"] = 10
        rng = make_rng(seed)
        return DwaveSteepestDescent().sample(bqm, seed=dwave_seed(rng), **kwargs)
