"""``qhpo.minimize``: the loop most users want."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qhpo.errors import InvalidTrial
from qhpo.optimizers import Optimizer
from qhpo.space import Space
from qhpo.study import Study
from qhpo.trials import Trial

__all__ = ["Result", "minimize"]


@dataclass
class Result:
    best_params: dict[str, Any]
    best_value: float
    trials: list[Trial]
    n_failed: int
    suggest_seconds: list[float] = field(default_factory=list)  # optimiser time per ask
    study: Study | None = None


def minimize(
    f: Callable[[dict[str, Any]], float],
    space: Space | Mapping[str, Any] | str | Path,
    n_trials: int,
    optimizer: str | Optimizer = "gp",
    seed: int | None = None,
    *,
    batch_size: int = 1,
    warm_start: str | Path | Sequence[Mapping[str, Any]] | None = None,
    storage: str | Path | None = None,
    **optimizer_options: Any,
) -> Result:
    """Minimise ``f(config)`` over ``space`` with ``n_trials`` evaluations.

    ``f`` may return NaN/inf (or raise ``FloatingPointError``/``ArithmeticError``) for a
    failed run: the trial is recorded as failed and the search goes on. ``batch_size > 1``
    asks for that many points at once (constant liar) and evaluates them in turn.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidTrial(f"n_trials: expected a positive integer, got {n_trials!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidTrial(f"batch_size: expected a positive integer, got {batch_size!r}")
    if not callable(f):
        raise InvalidTrial("f: expected a callable taking a dict of parameters")
    study = Study(space, optimizer, seed, storage=storage, **optimizer_options)
    if warm_start is not None:
        study.warm_start(warm_start)
    times: list[float] = []
    done = 0
    while done < n_trials:
        q = min(batch_size, n_trials - done)
        t0 = time.perf_counter()
        batch = study.ask_batch(q)
        times.append(time.perf_counter() - t0)
        for trial in batch:
            try:
                value = f(dict(trial.params))
            except ArithmeticError as exc:
                study.tell_failed(trial, f"{type(exc).__name__}: {exc}")
            else:
                study.tell(trial, value)
        done += q
    best = study.best_trial
    assert best.value is not None
    return Result(
        best_params=dict(best.params),
        best_value=best.value,
        trials=list(study.trials),
        n_failed=len(study.failed),
        suggest_seconds=times,
        study=study,
    )
