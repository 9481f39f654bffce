"""qcompress: compress and restore tensors (weights, gradients, activations).

fp16/bf16 casts; int8/int4/NF4/binary quantisation; entropy-coded scalar quantisation;
importance-based mixed precision; top-k/threshold sparsification and PowerSGD low rank with
error feedback; byte-shuffle + zstd; zfp and SZ3 error-bounded compression (extra
``errorbound``); a planner for a bit budget or an error target; all in one versioned,
checksummed container that refuses damaged or forged input with :class:`CorruptData`.
"""

from qcompress.api import METHODS, compress, decompress, error_stats, inspect
from qcompress.errors import (
    CorruptData,
    InvalidSettings,
    MissingExtra,
    QcompressError,
    UnsupportedTensor,
)
from qcompress.feedback import ErrorFeedback, PowerSGD, PowerSGDGroup
from qcompress.planner import Plan, plan
from qcompress.storage import Reader, load, save

__all__ = [
    "METHODS",
    "CorruptData",
    "ErrorFeedback",
    "InvalidSettings",
    "MissingExtra",
    "Plan",
    "PowerSGD",
    "PowerSGDGroup",
    "QcompressError",
    "Reader",
    "UnsupportedTensor",
    "__version__",
    "compress",
    "decompress",
    "error_stats",
    "inspect",
    "load",
    "plan",
    "save",
]

__version__ = "0.1.0"
