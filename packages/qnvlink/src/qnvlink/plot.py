"""A PNG of the fabric with each link coloured by the plan's load (matplotlib, extra ``plot``)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np

from qnvlink.mapping import Plan
from qnvlink.simulate import build_flows, link_loads

__all__ = ["plot_link_load"]

_LAYER = {"nic": 0, "switch": 0, "gpu": 1, "pci": 2, "cpu": 3, "nvswitch": 2}


def plot_link_load(plan: Plan, path: str | Path, *, title: str | None = None) -> Path:
    """Draw ``plan.fabric`` with link width and colour = utilisation (busier direction)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"plotting needs matplotlib ({exc}); pip install 'qnvlink[plot]'"
        ) from None
    fabric = plan.fabric
    loads = link_loads(build_flows(fabric, plan.traffic, plan.mapping))
    util = loads / fabric.capacity
    per_edge = np.maximum(util[0::2], util[1::2])
    peak = per_edge.max() or 1.0
    graph = fabric.graph.copy()  # the layer attribute is for drawing only
    for _, data in graph.nodes(data=True):
        data["layer"] = _LAYER.get(data["kind"], 0)
    pos = nx.multipartite_layout(graph, subset_key="layer", align="horizontal")
    fig, ax = plt.subplots(figsize=(max(8, len(fabric.gpus) * 0.25), 6), dpi=100)
    cmap = plt.get_cmap("viridis")
    nx.draw_networkx_edges(
        graph,
        pos,
        edgelist=fabric.edges,
        edge_color=[cmap(v / peak) for v in per_edge],
        width=[0.5 + 3.5 * v / peak for v in per_edge],
        ax=ax,
    )
    colours = {"gpu": "tab:green", "nvswitch": "tab:purple", "nic": "tab:orange"}
    nx.draw_networkx_nodes(
        graph,
        pos,
        node_size=20,
        node_color=[colours.get(d["kind"], "tab:gray") for _, d in graph.nodes(data=True)],
        ax=ax,
    )
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, peak))
    fig.colorbar(mappable, ax=ax, label="busy time of the link (s)")
    ax.set_title(title or f"{fabric.name}: {plan.method}, busiest {plan.metrics.busiest_link}")
    ax.set_axis_off()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
