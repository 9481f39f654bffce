"""Model serving: a federated run's checkpoint (qflower's output folder) loaded once per
(model, version, precision) and kept; texts in, labels and probabilities out.

Lower precision goes through qcompress: every floating tensor of the model is stored in a
qcompress container of the chosen codec (fp16, bf16, int8, int4, nf4) and restored from it,
so the served weights are exactly what that codec keeps. Compute stays float32 (CPU kernels
for int8/int4 matmuls are not part of this stack): the gain is the size of the stored model,
reported with its error; latency is that of float32.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qservice.errors import InvalidInput

PRECISIONS = ("float32", "fp16", "bf16", "int8", "int4", "nf4")


@dataclass
class LoadedModel:
    model: Any  # qfed LoraModel
    labels: list[str]
    max_length: int
    load_seconds: float
    info: dict[str, Any]


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


def load(folder: Path, labels: list[str], precision: str) -> LoadedModel:
    import torch
    from qfed.model import load_model
    from qflower.config import config_from_json
    from qflower.report import load_checkpoint

    started = time.perf_counter()
    state, tensors = load_checkpoint(folder)
    config = config_from_json(json.dumps(state["server"]["config"]))
    model = load_model(config.model, num_labels=len(labels), lora=config.lora, seed=config.seed)
    model.load_trainable_state(tensors)
    info: dict[str, Any] = {"precision": precision}
    if precision != "float32":
        info.update(_through_qcompress(model.module, precision))
    model.module.eval()
    torch.set_grad_enabled(False)
    return LoadedModel(model, labels, config.max_length, time.perf_counter() - started, info)


def _through_qcompress(module: Any, codec: str) -> dict[str, Any]:
    import qcompress
    import torch

    original = stored = 0
    worst = 0.0
    with torch.no_grad():
        for _, tensor in module.state_dict().items():
            if not tensor.is_floating_point() or tensor.numel() < 16:
                continue
            array = tensor.detach().cpu().numpy()
            blob = qcompress.compress(array, codec)
            restored = qcompress.decompress(blob)
            worst = max(worst, qcompress.error_stats(array, restored)["rel_l2"])
            tensor.copy_(torch.as_tensor(np.asarray(restored, dtype=np.float32)))
            original += array.nbytes
            stored += len(blob)
    return {"float32_bytes": original, "stored_bytes": stored, "worst_rel_l2": worst}


class ModelCache:
    """Loaded models, least recently used dropped beyond ``size``."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._models: OrderedDict[tuple[str, int, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str], folder: Path, labels: list[str]) -> LoadedModel:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = load(folder, labels, key[2])
            self._models[key] = loaded
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return loaded


def predict(loaded: LoadedModel, texts: list[str]) -> list[dict[str, Any]]:
    import torch

    with torch.inference_mode():
        batch = loaded.model.encode(texts, max_length=loaded.max_length)
        logits = loaded.model.module(batch["input_ids"], batch["attention_mask"])
        probs = torch.softmax(logits.float(), dim=-1).numpy()
    out = []
    for row in probs:
        best = int(row.argmax())
        out.append(
            {
                "label": loaded.labels[best],
                "probabilities": {
                    name: float(p) for name, p in zip(loaded.labels, row, strict=True)
                },
            }
        )
    return out
