"""qensemble: ensembles of PyTorch models trained by parallel workers (process pool or Ray),
prediction- and weight-space combining, Byzantine-robust aggregation, and QUBO ensemble
selection (through qcore) against Caruana's greedy forward selection.

>>> from qensemble import robust
>>> import numpy as np
>>> robust.coordinate_median(np.array([[0.0], [1.0], [100.0]])).tolist()
[1.0]
"""

from qensemble import combine, robust, selection, soup
from qensemble.balancer import MultiFactorBalancer, RoundRobinBalancer
from qensemble.ensemble import Ensemble, MemberFailure, ProgressEvent
from qensemble.errors import (
    EmptyEnsemble,
    InvalidParameter,
    InvalidUpdates,
    MemberShapeMismatch,
    MissingExtra,
    ModelNotPicklable,
    NoMembersTrained,
    QensembleError,
)
from qensemble.models import MLPFactory
from qensemble.selection import Selection, caruana_select, qubo_select
from qensemble.simulate import simulate_pool

__version__ = "0.1.0"

__all__ = [
    "EmptyEnsemble",
    "Ensemble",
    "InvalidParameter",
    "InvalidUpdates",
    "MLPFactory",
    "MemberFailure",
    "MemberShapeMismatch",
    "MissingExtra",
    "ModelNotPicklable",
    "MultiFactorBalancer",
    "NoMembersTrained",
    "ProgressEvent",
    "QensembleError",
    "RoundRobinBalancer",
    "Selection",
    "caruana_select",
    "combine",
    "qubo_select",
    "robust",
    "selection",
    "simulate_pool",
    "soup",
]
