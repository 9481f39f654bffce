"""The schedule's power over time against the budget, as a PNG (extra ``plot``)."""

from __future__ import annotations

from pathlib import Path

from qenergy.errors import MissingExtra
from qenergy.result import ScheduleResult

__all__ = ["plot_power"]


def plot_power(result: ScheduleResult, path: str | Path, title: str | None = None) -> Path:
    """Write a step plot of cluster power (W) and busy GPUs over time with the budget line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra("plot_power needs matplotlib: pip install 'qenergy[plot]'.") from None
    profile = result.power_profile()
    hours = (profile["time_s"] - profile["time_s"].min()) / 3600.0
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=110)
    ax.step(hours, profile["power_w"] / 1000.0, where="post", label="cluster power")
    budget = result.cluster.power_budget_w / 1000.0  # type: ignore[union-attr]
    ax.axhline(budget, color="crimson", linestyle="--", label=f"budget {budget:g} kW")
    ax.set_xlabel("hours since first submission")
    ax.set_ylabel("kW")
    ax.set_title(
        title
        or f"{result.method}, objective {result.objective}: peak {result.peak_w / 1000:.1f} kW"
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
