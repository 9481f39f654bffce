"""Export a federated run's model to ONNX once, in the worker (where torch is loaded), so the
model-serving process needs only onnxruntime and the ``tokenizers`` library.

The LoRA adapters are merged into the base weights (``merge_and_unload``): the exported graph
is the plain classifier the adapters define, with no PEFT code. For lower precision, every
weight is stored once per codec in a qcompress file, in torch's layout (so a codec's rows and
blocks are those of the torch tensor); the export records which graph initializer holds which
torch tensor, transposed or not (the exporter folds ``W.T`` of a linear layer into one).
Before the folder is published, the ONNX model's logits are compared with the torch model's on
sample texts; an export that disagrees beyond ``LOGIT_TOL`` is refused.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qservice.errors import InvalidInput
from qservice.onnx_engine import (
    META_FILE,
    MODEL_FILE,
    PRECISIONS,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    weights_file,
)

OPSET = 17
LOGIT_TOL = 1e-4
SAMPLE_TEXTS = (
    "just landed in lisbon and the sun is out, best start to a holiday ever",
    "my flight got cancelled again. this airline is a joke",
    "the meeting moved to 3pm",
)


class ExportMismatch(RuntimeError):
    """The exported graph does not reproduce the torch model's logits."""


def export_model(
    lora_model: Any, labels: list[str], max_length: int, out: Path, source: str = ""
) -> dict[str, Any]:
    """Write ``model.onnx``, ``tokenizer.json`` and ``serving.json`` for a qfed ``LoraModel``
    into ``out`` (replaced atomically); returns the metadata written."""
    import torch

    module = lora_model.module
    module.eval()
    merged = module.merge_and_unload() if hasattr(module, "merge_and_unload") else module
    merged.eval()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    batch = lora_model.encode(list(SAMPLE_TEXTS), max_length=max_length)
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter warns about traced Python conditionals in transformers'
        # mask code; the comparison below checks the graph on texts of different lengths
        warnings.simplefilter("ignore")
        torch.onnx.export(
            merged,
            (batch["input_ids"], batch["attention_mask"]),
            str(tmp / MODEL_FILE),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "logits": {0: "batch"},
            },
            opset_version=OPSET,
            # onnxruntime folds constants with the file's values before it applies
            # overridden initializers: fold here, and store weights in the folded layout
            do_constant_folding=True,
        )
        expected = merged(batch["input_ids"], batch["attention_mask"]).numpy()
    lora_model.tokenizer.backend_tokenizer.save(str(tmp / TOKENIZER_FILE))
    tensors = {
        name: tensor.numpy()
        for name, tensor in merged.state_dict().items()
        if tensor.is_floating_point() and tensor.numel() >= 16
    }
    weights, transposed = _externalise(tmp / MODEL_FILE, tensors)
    meta = {
        "labels": list(labels),
        "max_length": int(max_length),
        "opset": OPSET,
        "source": source,
        "pad_id": int(lora_model.tokenizer.pad_token_id or 0),
        "pad_token": str(lora_model.tokenizer.pad_token or "[PAD]"),
        "transposed": transposed,
        "precisions": _lower_precisions(tmp, weights),
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
    diff = _check(tmp, list(SAMPLE_TEXTS), expected)
    meta["max_abs_logit_diff"] = diff
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return meta


def _externalise(
    path: Path, tensors: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Move the initializers into ``weights.bin`` (ONNX external data, read by onnxruntime
    without a protobuf copy). Returns the graph's weights in torch's layout, by initializer
    name, and the names of those the graph holds transposed (each initializer matched to the
    torch tensor it equals; the exporter may have merged equal tensors under one name)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for array in tensors.values():
        by_shape.setdefault(array.shape, []).append(array)
    weights: dict[str, np.ndarray] = {}
    transposed: list[str] = []
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(init)
        if any(np.array_equal(value, t) for t in by_shape.get(value.shape, [])):
            weights[init.name] = value
        elif value.ndim == 2 and any(
            np.array_equal(value.T, t) for t in by_shape.get(value.T.shape, [])
        ):
            weights[init.name] = np.ascontiguousarray(value.T)
            transposed.append(init.name)
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=WEIGHTS_FILE,
        size_threshold=1024,
    )
    return weights, sorted(transposed)


def _lower_precisions(folder: Path, weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """One qcompress file per lower precision, holding every weight in that codec; the
    serving process restores them instead of the float32 initializers."""
    import qcompress

    out: dict[str, Any] = {}
    original = sum(a.nbytes for a in weights.values())
    for precision in PRECISIONS[1:]:
        path = folder / weights_file(precision)
        qcompress.save(path, weights, method=precision)
        worst = 0.0
        with qcompress.Reader(path) as reader:
            for name in reader:
                stats = qcompress.error_stats(weights[name], reader[name])
                worst = max(worst, float(stats["rel_l2"]))
        out[precision] = {
            "float32_bytes": original,
            "stored_bytes": path.stat().st_size,
            "worst_rel_l2": worst,
        }
    return out


def _check(folder: Path, texts: list[str], expected: np.ndarray) -> float:
    from qservice.onnx_engine import load_engine

    engine = load_engine(folder, "float32")
    got = engine.logits(texts)
    diff = float(np.abs(got - expected).max())
    if not diff <= LOGIT_TOL:
        raise ExportMismatch(
            f"export: the ONNX graph's logits differ from torch's by {diff:.2e} "
            f"(tolerance {LOGIT_TOL:g}); the model is not served"
        )
    return diff


def build_checkpoint_model(folder: Path, labels: list[str]) -> tuple[Any, Any]:
    """The qfed ``LoraModel`` of a qflower checkpoint folder, trained tensors loaded, and the
    run's config."""
    from qfed.model import load_model
    from qflower.config import config_from_json
    from qflower.report import load_checkpoint, load_released_model

    import qservice.quiet_imports  # noqa: F401

    try:
        state, tensors = load_checkpoint(folder)
        # the released model (the tail average the report measured) where the run wrote one
        tensors = load_released_model(folder) or tensors
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"checkpoint: {str(exc).splitlines()[0]}") from None
    config = config_from_json(json.dumps(state["server"]["config"]))
    model = load_model(config.model, num_labels=len(labels), lora=config.lora, seed=config.seed)
    model.load_trainable_state(tensors)
    return model, config


def export_checkpoint(folder: Path, labels: list[str], out: Path) -> dict[str, Any]:
    """Build the model of a qflower checkpoint folder (qfed) and export it to ``out``."""
    model, config = build_checkpoint_model(folder, labels)
    return export_model(model, labels, config.max_length, out, source=str(folder))
