"""The run's outputs: a JSON report, a PNG plot, and a checkpoint to resume from.

An output directory holds, after every round (so a crash loses at most one round):

* ``report.json``: the settings, one row per round (central test accuracy and loss, selected
  clients, replies and failures, epsilon per client and max/mean, bytes each way, seconds),
  and the final accuracy and epsilon;
* ``report.png``: accuracy and max/mean epsilon per round;
* ``checkpoint.npz`` (the global LoRA tensors, exactly as they travel) and
  ``checkpoint.json`` (round, server state, each client's DP accountant state);
* ``model.npz``: the released model's tensors (with ``average-last-rounds`` N > 1, the mean
  of the last N rounds' global tensors: what the report's accuracy measures and what an
  export serves).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from qfed.errors import InvalidConfig

CHECKPOINT_JSON = "checkpoint.json"
CHECKPOINT_NPZ = "checkpoint.npz"
MODEL_NPZ = "model.npz"
REPORT_JSON = "report.json"
REPORT_PNG = "report.png"


def _clean(value: Any) -> Any:
    """JSON without NaN/inf (``null`` instead): strict parsers reject the bare tokens."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a reader (or a resume after a crash) never sees half a file


def _write_npz(path: Path, tensors: Mapping[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in tensors.items()})
    os.replace(tmp, path)


def write_checkpoint(
    out_dir: Path,
    global_state: Mapping[str, np.ndarray],
    state: Mapping[str, Any],
    released: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write the global tensors, the released model (default: the global tensors) and the
    JSON state; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_npz(out_dir / CHECKPOINT_NPZ, global_state)
    _write_npz(out_dir / MODEL_NPZ, global_state if released is None else released)
    path = out_dir / CHECKPOINT_JSON
    _write_atomic(path, json.dumps(_clean(dict(state)), indent=1))
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a checkpoint directory (or its ``checkpoint.json``): (JSON state, tensors)."""
    path = Path(path)
    folder = path.parent if path.name == CHECKPOINT_JSON else path
    json_path, npz_path = folder / CHECKPOINT_JSON, folder / CHECKPOINT_NPZ
    if not json_path.is_file() or not npz_path.is_file():
        raise InvalidConfig(
            f"resume-from {str(path)!r} holds no checkpoint ({CHECKPOINT_JSON} and "
            f"{CHECKPOINT_NPZ}); pass the output-dir of an earlier run"
        )
    state = json.loads(json_path.read_text())
    with np.load(npz_path) as data:
        tensors = {k: data[k] for k in data.files}
    return state, tensors


def load_released_model(path: str | Path) -> dict[str, np.ndarray] | None:
    """The released model's tensors of a run directory (``model.npz``), or None when the run
    predates it (its checkpoint's global tensors are then the model)."""
    path = Path(path)
    folder = path.parent if path.name == CHECKPOINT_JSON else path
    if not (folder / MODEL_NPZ).is_file():
        return None
    with np.load(folder / MODEL_NPZ) as data:
        return {k: data[k] for k in data.files}


def write_report(out_dir: Path, report: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.png``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / REPORT_JSON
    _write_atomic(json_path, json.dumps(_clean(dict(report)), indent=1))
    png_path = out_dir / REPORT_PNG
    plot_rounds(report.get("rounds", []), png_path, title=str(report.get("title", "")))
    return json_path, png_path


def plot_rounds(rows: list[Mapping[str, Any]], path: Path, *, title: str = "") -> None:
    """Accuracy (left axis) and max/mean epsilon (right axis) per round."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in Ray workers
    import matplotlib.pyplot as plt

    rounds = [int(r["round"]) for r in rows]
    accuracy = [r.get("accuracy") for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    try:
        ax.plot(rounds, accuracy, "o-", color="tab:blue", label="test accuracy")
        ax.set_xlabel("round")
        ax.set_ylabel("central test accuracy", color="tab:blue")
        ax.set_ylim(0.0, 1.0)
        eps_max = [_finite_or_none(r.get("epsilon_max")) for r in rows]
        if any(e is not None for e in eps_max):
            eps_mean = [_finite_or_none(r.get("epsilon_mean")) for r in rows]
            ax2 = ax.twinx()
            ax2.plot(rounds, _nan(eps_max), "s--", color="tab:red", label="epsilon (max)")
            ax2.plot(rounds, _nan(eps_mean), "^:", color="tab:orange", label="epsilon (mean)")
            ax2.set_ylabel("epsilon spent", color="tab:red")
            ax2.set_ylim(bottom=0.0)
            lines = ax.get_lines() + ax2.get_lines()
            ax.legend(lines, [ln.get_label() for ln in lines], loc="lower right")
        else:
            ax.legend(loc="lower right")
        if rounds:
            ax.set_xticks(rounds)
        ax.set_title(title or "federated DP-LoRA")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]
