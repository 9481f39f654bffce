"""Model registration facts: what a federated run's checkpoint (qflower's output folder) says
about its model, read in the API process when a version is registered. Serving itself runs
in the model-serving process (``model_server``) from the ONNX export (``export``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qservice.errors import InvalidInput


def checkpoint_facts(folder: Path) -> dict[str, Any]:
    """What a checkpoint folder says about its model (checked at registration)."""
    from qflower.report import load_checkpoint

    import qservice.quiet_imports  # noqa: F401

    try:
        state, _ = load_checkpoint(folder)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"checkpoint: {str(exc).splitlines()[0]}") from None
    config = state.get("server", {}).get("config", {})
    labels = _label_names(config)
    report = folder / "report.json"
    final = json.loads(report.read_text()).get("final", {}) if report.exists() else {}
    return {
        "model": config.get("model"),
        "labels": labels,
        "round": state.get("round"),
        "accuracy": final.get("accuracy"),
        "epsilon_max": final.get("epsilon_max"),
        "config": config,
    }


def _label_names(config: dict[str, Any]) -> list[str]:
    from qfed.task import FederatedTask
    from qflower.config import config_from_json

    return list(FederatedTask(config_from_json(json.dumps(config))).label_names)
