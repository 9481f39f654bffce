"""Every qhpo optimiser as an Optuna sampler (extra ``optuna``).

Optuna keeps the study, the storage (in memory, RDB, journal), the dashboard and the
pruners; the sampler turns the study's intersection search space into a qhpo ``Space``, its
trials into a qhpo ``History`` and asks the optimiser for one configuration. The generator is
derived from ``(seed, trial.number)``, so workers sharing a study through a storage do not
draw the same points and a re-run with the same seed is reproducible. Parameters outside the
intersection space (conditional ones) are sampled by Optuna's RandomSampler with the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from qhpo.blas_threads import one_blas_thread
from qhpo.errors import InvalidTrial, MissingExtra
from qhpo.optimizers import History, Optimizer, make_optimizer, optimizer_class
from qhpo.space import Categorical, Float, Int, Param, Space

try:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.search_space import IntersectionSearchSpace
    from optuna.trial import FrozenTrial, TrialState
except ImportError as exc:  # pragma: no cover - exercised by the install check
    raise MissingExtra(
        f"qhpo's Optuna samplers need Optuna: pip install 'qhpo[optuna]' ({exc})"
    ) from exc

__all__ = ["QhpoSampler", "space_from_distributions"]


class _Codec:
    """Maps one Optuna distribution onto a qhpo parameter and back."""

    def __init__(self, name: str, dist: BaseDistribution) -> None:
        self.dist = dist
        self.param: Param
        if isinstance(dist, FloatDistribution):
            if dist.step is not None:
                self.n = round((dist.high - dist.low) / dist.step)
                self.param = Int(name, 0, self.n)
            else:
                self.param = Float(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, IntDistribution):
            if dist.step != 1:
                self.param = Int(name, 0, (dist.high - dist.low) // dist.step)
            else:
                self.param = Int(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, CategoricalDistribution):
            # choices by index: Optuna allows choices qhpo's Categorical would compare oddly
            self.param = Categorical(name, tuple(range(len(dist.choices))))
        else:  # pragma: no cover - Optuna has no other distributions today
            raise InvalidTrial(f"{name}: unsupported Optuna distribution {type(dist).__name__}")

    def to_qhpo(self, value: Any) -> Any:
        d = self.dist
        if isinstance(d, FloatDistribution) and d.step is not None:
            return round((value - d.low) / d.step)
        if isinstance(d, IntDistribution) and d.step != 1:
            return int((value - d.low) // d.step)
        if isinstance(d, CategoricalDistribution):
            return d.to_internal_repr(value)
        return value

    def to_optuna(self, value: Any) -> Any:
        d = self.dist
        if isinstance(d, FloatDistribution) and d.step is not None:
            return min(d.low + value * d.step, d.high)
        if isinstance(d, IntDistribution) and d.step != 1:
            return d.low + value * d.step
        if isinstance(d, CategoricalDistribution):
            return d.to_external_repr(value)
        return value


def space_from_distributions(
    search_space: Mapping[str, BaseDistribution],
) -> tuple[Space, dict[str, _Codec]]:
    codecs = {n: _Codec(n, d) for n, d in sorted(search_space.items())}
    return Space([c.param for c in codecs.values()]), codecs


def _single_objective(study: optuna.Study) -> None:
    if len(study.directions) > 1:
        raise InvalidTrial(
            "directions: qhpo's Optuna samplers are single-objective; create the study "
            "with one direction"
        )


class QhpoSampler(optuna.samplers.BaseSampler):
    """``qhpo.optuna_sampler(name, seed=...)``: qhpo's optimiser ``name`` inside Optuna."""

    def __init__(self, name: str = "gp", *, seed: int | None = None, **options: Any) -> None:
        optimizer_class(name)  # an unknown name fails here, not at the first trial
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidTrial(f"seed: expected an integer or None, got {seed!r}")
        self.name = name
        self.seed = seed
        self.options = options
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace(include_pruned=True)
        self._cache: dict[int, Optimizer] = {}  # one optimiser per space keeps GP warm starts

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space = self._intersection.calculate(study)
        # a single-valued distribution is not a choice: Optuna returns its value itself
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        _single_objective(study)
        if not search_space:
            return {}
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        space, codecs = space_from_distributions(search_space)
        history = History()
        states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.PRUNED)
        for t in study._get_trials(deepcopy=False, states=states, use_cache=True):
            if t.number == trial.number:
                continue
            history.n_total += 1
            if not all(n in t.params for n in codecs):
                continue  # the trial did not reach every parameter of this space
            config = {n: c.to_qhpo(t.params[n]) for n, c in codecs.items()}
            if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
                history.observed.append(config)
                history.values.append(sign * t.value)
            elif t.state == TrialState.RUNNING:
                history.pending.append(config)
            else:
                history.failed.append(config)
        key = hash(space)
        opt = self._cache.get(key)
        if opt is None:
            opt = self._cache[key] = make_optimizer(self.name, space, self.seed, **self.options)
        opt.reseed(trial.number)
        with one_blas_thread():
            config = opt.suggest(history, 1)[0]
        return {n: codecs[n].to_optuna(v) for n, v in config.items()}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        _single_objective(study)
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._random.after_trial(study, trial, state, values)
