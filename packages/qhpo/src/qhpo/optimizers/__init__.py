"""Optimisers by name: ``gp``, ``vqc``, ``hybrid``, ``random``, ``sobol``."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from qhpo.errors import InvalidTrial, UnknownOptimizer
from qhpo.optimizers.base import History, Optimizer
from qhpo.space import Space

__all__ = ["OPTIMIZERS", "History", "Optimizer", "make_optimizer", "optimizer_class"]

# name -> "module:Class"; vqc and hybrid need the `quantum` extra, imported only when asked for
OPTIMIZERS: dict[str, str] = {
    "gp": "qhpo.optimizers.gp:GPOptimizer",
    "vqc": "qhpo.optimizers.vqc:VQCOptimizer",
    "hybrid": "qhpo.optimizers.hybrid:HybridOptimizer",
    "random": "qhpo.optimizers.random_search:RandomOptimizer",
    "sobol": "qhpo.optimizers.sobol:SobolOptimizer",
}


def optimizer_class(name: str) -> type[Optimizer]:
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise UnknownOptimizer(f"optimizer: {name!r} is not one of {sorted(OPTIMIZERS)}")
    module, cls = OPTIMIZERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_optimizer(
    name: str | Optimizer, space: Space, seed: int | None = None, **options: Any
) -> Optimizer:
    """An optimiser for ``space``; ``options`` go to its constructor (checked by name)."""
    if isinstance(name, Optimizer):
        if options:
            raise InvalidTrial("optimizer_options: only with an optimiser name, not an instance")
        return name
    cls = optimizer_class(name)
    accepted = [
        p for p in inspect.signature(cls.__init__).parameters if p not in {"self", "space", "seed"}
    ]
    unknown = set(options) - set(accepted)
    if unknown:
        raise InvalidTrial(
            f"optimizer_options: {sorted(unknown)} not accepted by {name!r}; "
            f"it takes {accepted or 'no options'}"
        )
    return cls(space, seed, **options)
