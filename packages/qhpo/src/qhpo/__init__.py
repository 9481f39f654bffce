"""qhpo: hyperparameter search for expensive training runs.

Gaussian-process log-EI (our own), a PennyLane Born-machine optimiser, hybrid, random and
Sobol baselines; ask/tell, batches, warm starts, and Optuna samplers.
"""

from qhpo.errors import (
    InvalidSpace,
    InvalidStudyFile,
    InvalidTrial,
    InvalidWarmStart,
    MissingExtra,
    QhpoError,
    UnknownOptimizer,
)
from qhpo.minimize import Result, minimize
from qhpo.optimizers import OPTIMIZERS, make_optimizer
from qhpo.space import Categorical, Float, Int, Space, load_space
from qhpo.study import Study
from qhpo.trials import Trial, TrialState
from qhpo.warmstart import WarmStartReport, load_prior

__version__ = "0.1.0"

__all__ = [
    "OPTIMIZERS",
    "Categorical",
    "Float",
    "Int",
    "InvalidSpace",
    "InvalidStudyFile",
    "InvalidTrial",
    "InvalidWarmStart",
    "MissingExtra",
    "QhpoError",
    "Result",
    "Space",
    "Study",
    "Trial",
    "TrialState",
    "UnknownOptimizer",
    "WarmStartReport",
    "load_prior",
    "load_space",
    "make_optimizer",
    "minimize",
    "optuna_sampler",
]


def optuna_sampler(name: str = "gp", seed: int | None = None, **options: object):
    """An ``optuna.samplers.BaseSampler`` running qhpo's optimiser ``name`` (extra ``optuna``)."""
    from qhpo.optuna_integration import QhpoSampler

    return QhpoSampler(name, seed=seed, **options)
