"""A study: ask/tell over a space, trials in memory or in a JSON file, warm starts."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qhpo.blas_threads import one_blas_thread
from qhpo.errors import InvalidStudyFile, InvalidTrial
from qhpo.optimizers import History, Optimizer, make_optimizer
from qhpo.space import Space, load_space
from qhpo.trials import Trial, TrialState, check_value
from qhpo.warmstart import WarmStartReport, load_prior

__all__ = ["Study"]

_FORMAT = "qhpo.study/1"


class Study:
    """Ask for configurations, tell their values; the optimiser learns from every told trial.

    ``storage``: a JSON file path. An existing file is loaded (it must hold the same space);
    every ask and tell rewrites it atomically, so a crashed run resumes where it stopped.
    """

    def __init__(
        self,
        space: Space | Mapping[str, Any] | str | Path,
        optimizer: str | Optimizer = "gp",
        seed: int | None = None,
        storage: str | Path | None = None,
        **optimizer_options: Any,
    ) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidTrial(f"seed: expected an integer or None, got {seed!r}")
        self.space = load_space(space)
        self.optimizer = make_optimizer(optimizer, self.space, seed, **optimizer_options)
        self.trials: list[Trial] = []
        self.storage = Path(storage) if storage is not None else None
        if self.storage is not None and self.storage.exists():
            self._load()

    # --- persistence --------------------------------------------------------------------
    def _load(self) -> None:
        assert self.storage is not None
        try:
            data = json.loads(self.storage.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidStudyFile(
                f"{self.storage}: not JSON ({exc.msg}); pass a new path"
            ) from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise InvalidStudyFile(f"{self.storage}: not a qhpo study file ({_FORMAT})")
        try:
            space = Space.from_dict(data["space"])
            trials = [Trial.from_json(t) for t in data["trials"]]
            if space == self.space:
                for t in trials:
                    self.space.validate(t.params, where=f"trial {t.number}")
                    complete = t.state is TrialState.COMPLETE
                    if complete != (t.value is not None) or (
                        complete and check_value(t.value)[0] is None
                    ):
                        raise ValueError(
                            f"trial {t.number}: state {t.state.value} with value {t.value}"
                        )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidStudyFile(
                f"{self.storage}: damaged study file ({type(exc).__name__}: {exc}); pass a new path"
            ) from None
        if space != self.space:
            raise InvalidStudyFile(
                f"{self.storage}: written for a different space; use a new file, or warm-start "
                "from this one with study.warm_start(path)"
            )
        if [t.number for t in trials] != list(range(len(trials))):
            raise InvalidStudyFile(f"{self.storage}: trial numbers are not 0..n-1; pass a new path")
        self.trials = trials

    def _save(self) -> None:
        if self.storage is None:
            return
        data = {
            "format": _FORMAT,
            "space": self.space.to_dict(),
            "trials": [t.to_json() for t in self.trials],
        }
        folder = self.storage.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=self.storage.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.storage)

    # --- ask / tell -----------------------------------------------------------------------
    def history(self) -> History:
        h = History(n_total=len(self.trials))
        for t in self.trials:
            if t.state is TrialState.COMPLETE:
                assert t.value is not None
                h.observed.append(t.params)
                h.values.append(t.value)
            elif t.state is TrialState.FAILED:
                h.failed.append(t.params)
            else:
                h.pending.append(t.params)
        return h

    def ask(self) -> Trial:
        """One new trial (its ``params`` are the configuration to evaluate)."""
        return self.ask_batch(1)[0]

    def ask_batch(self, q: int) -> list[Trial]:
        """``q`` trials to evaluate at once (for ``q`` workers); pending ones are kept apart."""
        if isinstance(q, bool) or not isinstance(q, int) or q < 1:
            raise InvalidTrial(f"q: expected a positive integer, got {q!r}")
        with one_blas_thread():
            configs = self.optimizer.suggest(self.history(), q)
        new = []
        for c in configs:
            t = Trial(number=len(self.trials), params=self.space.validate(c))
            self.trials.append(t)
            new.append(t)
        self._save()
        return new

    def _trial(self, trial: Trial | int) -> Trial:
        number = trial.number if isinstance(trial, Trial) else trial
        if (
            isinstance(number, bool)
            or not isinstance(number, int)
            or not (0 <= number < len(self.trials))
        ):
            raise InvalidTrial(f"trial: no trial number {number!r} in this study")
        return self.trials[number]

    def tell(self, trial: Trial | int, value: object) -> Trial:
        """Record ``value`` (lower is better). NaN or inf marks the trial failed: it is kept
        and reported, and never used as a number."""
        t = self._trial(trial)
        if t.state is not TrialState.PENDING:
            raise InvalidTrial(f"trial {t.number}: already told ({t.state.value})")
        v, reason = check_value(value, f"value of trial {t.number}")
        if v is None:
            t.state, t.error = TrialState.FAILED, reason
        else:
            t.state, t.value = TrialState.COMPLETE, v
        self._save()
        return t

    def tell_failed(self, trial: Trial | int, reason: str) -> Trial:
        """Mark a trial failed (the training run crashed) with the reason."""
        t = self._trial(trial)
        if t.state is not TrialState.PENDING:
            raise InvalidTrial(f"trial {t.number}: already told ({t.state.value})")
        t.state, t.error = TrialState.FAILED, str(reason)
        self._save()
        return t

    def add_trial(self, params: Mapping[str, Any], value: object, source: str = "added") -> Trial:
        """A trial evaluated elsewhere (validated against the space), e.g. a warm start."""
        t = Trial(number=len(self.trials), params=self.space.validate(params), source=source)
        self.trials.append(t)
        v, reason = check_value(value, f"value of trial {t.number}")
        if v is None:
            t.state, t.error = TrialState.FAILED, reason
        else:
            t.state, t.value = TrialState.COMPLETE, v
        self._save()
        return t

    def warm_start(
        self, source: str | Path | Sequence[Mapping[str, Any]], **options: Any
    ) -> WarmStartReport:
        """Add prior trials from a CSV/JSON file or records (policies: ``load_prior``)."""
        report = load_prior(source, self.space, **options)
        for params, value in report.trials:
            self.add_trial(params, value, source="warm-start")
        return report

    # --- results ----------------------------------------------------------------------------
    @property
    def completed(self) -> list[Trial]:
        return [t for t in self.trials if t.state is TrialState.COMPLETE]

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if t.state is TrialState.FAILED]

    @property
    def best_trial(self) -> Trial:
        done = self.completed
        if not done:
            raise InvalidTrial("best_trial: no trial has a finite value yet")
        return min(done, key=lambda t: t.value)  # type: ignore[arg-type,return-value]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        v = self.best_trial.value
        assert v is not None
        return v
