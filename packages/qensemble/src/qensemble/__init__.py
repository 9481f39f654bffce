"""qensemble: ensembles of PyTorch models trained by parallel workers (process pool or Ray),
prediction- and weight-space combining, Byzantine-robust aggregation, and QUBO ensemble
selection (through qcore) against Caruana's greedy forward selection."""

from qensemble import robust
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

__version__ = "0.1.0"

__all__ = [
    "EmptyEnsemble",
    "InvalidParameter",
    "InvalidUpdates",
    "MemberShapeMismatch",
    "MissingExtra",
    "ModelNotPicklable",
    "NoMembersTrained",
    "QensembleError",
    "robust",
]
