"""The inference engine of the model-serving process: an exported model folder (``export.py``)
run with onnxruntime, texts tokenised with the ``tokenizers`` library. It imports numpy,
onnxruntime, tokenizers and qcompress; never torch, transformers, PEFT, Opacus or Flower.

Lower precision goes through qcompress: the export stored every weight of the merged model in
a qcompress file per codec (fp16, bf16, int8, int4, nf4); the engine restores them and they
replace the graph's float32 initializers. The served weights are exactly what that codec
keeps; compute stays float32 (no int8/int4 CPU kernels in this stack), so the gain is the
stored size (``info.stored_bytes``), reported with its error, not latency.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("float32", "fp16", "bf16", "int8", "int4", "nf4")
MODEL_FILE, TOKENIZER_FILE, META_FILE = "model.onnx", "tokenizer.json", "serving.json"
WEIGHTS_FILE = "weights.bin"  # the float32 initializers, as ONNX external data


class ModelUnavailable(FileNotFoundError):
    """The exported model folder is missing or incomplete."""


@dataclass
class Engine:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    labels: list[str]
    max_length: int
    load_seconds: float
    info: dict[str, Any]
    # restored weights handed to onnxruntime by reference: they must live as long as the session
    _keep: list[Any] = field(default_factory=list, repr=False)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    def logits(self, texts: list[str]) -> np.ndarray:
        ids, mask = self.encode(texts)
        (out,) = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(out, dtype=np.float32)

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        logits = self.logits(texts).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return [
            {
                "label": self.labels[int(row.argmax())],
                "probabilities": {name: float(p) for name, p in zip(self.labels, row, strict=True)},
            }
            for row in probs
        ]


def load_engine(folder: Path, precision: str = "float32", threads: int = 1) -> Engine:
    """An onnxruntime session over ``folder/model.onnx`` at ``precision``."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    if precision not in PRECISIONS:
        raise ValueError(f"precision: {precision!r}; one of {', '.join(PRECISIONS)}")
    started = time.perf_counter()
    folder = Path(folder)
    missing = [n for n in (MODEL_FILE, TOKENIZER_FILE, META_FILE) if not (folder / n).is_file()]
    if missing:
        raise ModelUnavailable(f"model folder {folder}: {', '.join(missing)} missing")
    meta = json.loads((folder / META_FILE).read_text())
    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=int(meta["max_length"]))
    tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    info: dict[str, Any] = {"precision": precision}
    keep: list[Any] = []
    if precision != "float32":
        info.update(meta.get("precisions", {}).get(precision, {}))
        _restored_weights(folder, precision, set(meta.get("transposed", [])), keep)
        for name, value, _ in keep:
            options.add_initializer(name, value)
    session = ort.InferenceSession(
        str(folder / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return Engine(
        session,
        tokenizer,
        list(meta["labels"]),
        int(meta["max_length"]),
        time.perf_counter() - started,
        info,
        keep,
    )


def _restored_weights(folder: Path, precision: str, transposed: set[str], keep: list) -> None:
    """The weights the export stored at ``precision`` (one qcompress container each, in
    torch's layout), restored to float32 in the graph's layout; ``keep`` receives (name,
    OrtValue, array) triples that override the graph's initializers."""
    import onnxruntime as ort
    import qcompress

    path = folder / weights_file(precision)
    if not path.is_file():
        raise ModelUnavailable(f"model folder {folder}: {path.name} missing")
    with qcompress.Reader(path) as reader:
        for name in reader:
            restored = np.asarray(reader[name], dtype=np.float32)
            restored = np.ascontiguousarray(restored.T if name in transposed else restored)
            keep.append((name, ort.OrtValue.ortvalue_from_numpy(restored), restored))


def weights_file(precision: str) -> str:
    return f"weights.{precision}.qcmf"
