"""qfed: federated, differentially private LoRA fine-tuning with QUBO client selection.

Modules (each one idea): ``data`` (corpora and cleaning), ``partition`` (IID / Dirichlet /
topic splits and the held-out test set), ``model`` (PEFT LoRA and FFA-LoRA, the tensors that
travel), ``privacy`` (one accountant per client over all rounds), ``training`` (DP-SGD with
Opacus), ``client_dp`` (server-side client-level DP), ``selection`` (QUBO client selection via
qcore), ``aggregation`` (FedAvg, median, trimmed mean), ``audit`` (one-run privacy audit),
``task`` / ``client`` / ``server`` (a run's pieces, as the Flower app uses them),
``simulation`` (the same run in one process) and ``baselines`` (central anchors).

>>> from qfed import FedConfig, simulate
>>> server = simulate(FedConfig(rounds=3, max_examples_per_client=200))  # doctest: +SKIP
>>> server.history[-1]["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from qfed.errors import BudgetExhausted, DataError, InvalidConfig, ModelError, QfedError

if TYPE_CHECKING:
    from qfed.server import FederatedServer
    from qfed.simulation import simulate
    from qfed.task import FedConfig, FederatedTask

__version__ = "0.1.0"

# torch, transformers and opacus take seconds to import: load them on first use only
_LAZY = {
    "FedConfig": "qfed.task",
    "FederatedTask": "qfed.task",
    "FederatedServer": "qfed.server",
    "simulate": "qfed.simulation",
}

__all__ = [
    "BudgetExhausted",
    "DataError",
    "FedConfig",
    "FederatedServer",
    "FederatedTask",
    "InvalidConfig",
    "ModelError",
    "QfedError",
    "simulate",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qfed' has no attribute {name!r}")
