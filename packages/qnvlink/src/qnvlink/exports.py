"""What a launcher needs from a plan: rank map JSON, CUDA_VISIBLE_DEVICES, MPI rankfile."""

from __future__ import annotations

import json
from pathlib import Path

from qnvlink.fabric_io import write_fabric
from qnvlink.mapping import Plan
from qnvlink.schedule import Schedule

__all__ = [
    "cuda_visible_devices",
    "mpi_rankfile",
    "write_outputs",
]


def _placement(plan: Plan) -> list[tuple[str, int]]:
    nodes = plan.fabric.graph.nodes
    return [(str(nodes[g]["host"]), int(nodes[g]["dev"])) for g in plan.gpus]


def cuda_visible_devices(plan: Plan) -> dict[str, str]:
    """Per host, the device order that gives local rank i (ranks in global order) device i.

    Launchers (torchrun, mpirun + a local-rank wrapper) pick ``cuda:local_rank`` from the
    visible devices, so exporting this string on each host realises the plan.
    """
    order: dict[str, list[int]] = {}
    for host, dev in _placement(plan):
        order.setdefault(host, []).append(dev)
    return {host: ",".join(map(str, devs)) for host, devs in order.items()}


def mpi_rankfile(plan: Plan) -> str:
    """An Open MPI rankfile (``rank N=host slot=S``), one line per rank, slot = CUDA device."""
    lines = [f"rank {r}={host} slot={dev}" for r, (host, dev) in enumerate(_placement(plan))]
    return "\n".join(lines) + "\n"


def write_outputs(plan: Plan, folder: str | Path, schedule: Schedule | None = None) -> list[Path]:
    """Write rankmap.json, cuda_visible_devices.json, rankfile, topology.xml (+ schedule.json)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "rankmap.json"
    path.write_text(json.dumps(plan.to_dict(), indent=1, default=float))
    written.append(path)
    path = out / "cuda_visible_devices.json"
    path.write_text(json.dumps(cuda_visible_devices(plan), indent=1))
    written.append(path)
    path = out / "rankfile"
    path.write_text(mpi_rankfile(plan))
    written.append(path)
    written.append(write_fabric(plan.fabric, out / "topology.xml"))
    if schedule is not None:
        path = out / "schedule.json"
        path.write_text(json.dumps(schedule.to_dict(plan.traffic), indent=1))
        written.append(path)
    return written
