"""qnvlink: map a job's communication onto a GPU fabric, schedule its links, adapt to change.

>>> import qnvlink
>>> fabric = qnvlink.dgx_h100()
>>> plan = qnvlink.map_ranks(fabric, qnvlink.ring_allreduce(8, 1e9), method="metis")
>>> len(plan.mapping), plan.metrics.sim_time_s > 0
(8, True)
"""

from qnvlink.builders import (
    build,
    cluster,
    dgx_a100,
    dgx_h100,
    gb200_nvl72,
    partial_nvlink,
    pcie_only,
)
from qnvlink.errors import (
    InvalidFabric,
    InvalidTraffic,
    MalformedFile,
    QnvlinkError,
    TooManyRanks,
    UnknownMethod,
)
from qnvlink.fabric import Fabric, Route
from qnvlink.fabric_io import read_fabric, write_fabric
from qnvlink.mapping import METHODS, Plan, map_ranks, remap
from qnvlink.metrics import Metrics, evaluate
from qnvlink.traffic import (
    all_to_all,
    halo,
    parallel_3d,
    read_traffic,
    ring_allreduce,
    tree_allreduce,
    write_traffic,
)

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "Fabric",
    "InvalidFabric",
    "InvalidTraffic",
    "MalformedFile",
    "Metrics",
    "Plan",
    "QnvlinkError",
    "Route",
    "TooManyRanks",
    "UnknownMethod",
    "all_to_all",
    "build",
    "cluster",
    "dgx_a100",
    "dgx_h100",
    "evaluate",
    "gb200_nvl72",
    "halo",
    "map_ranks",
    "parallel_3d",
    "partial_nvlink",
    "pcie_only",
    "read_fabric",
    "read_traffic",
    "remap",
    "ring_allreduce",
    "tree_allreduce",
    "write_fabric",
    "write_traffic",
]
