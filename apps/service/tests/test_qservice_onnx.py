"""The ONNX serving path: the export reproduces the torch model (LoRA merged) within a
tolerance, at float32 and through a qcompress codec; the tokenizer matches transformers';
the model-serving process imports no torch/transformers/PEFT/Opacus/Flower and comes back
after it is killed."""

from __future__ import annotations

import copy
import os
import signal

import numpy as np
import pytest

TEXTS = [
    "what a lovely day",
    "my flight got cancelled again. this airline is a joke, never flying with them again",
    "ok",
]
LABELS = ["negative", "neutral", "positive"]
TOL = 1e-4
HEAVY = {"torch", "transformers", "peft", "opacus", "flwr", "fastapi", "sklearn", "qfed"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny qfed LoRA model with random adapters and head, exported; plus torch's merged
    copy of it as the reference."""
    import torch
    from qfed.model import LoraSettings, load_model

    from qservice.export import export_model

    model = load_model("tiny", num_labels=3, lora=LoraSettings(rank=4), seed=0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, param in model.module.named_parameters():
            if param.requires_grad:  # LoRA A, B and the head: nonzero, so merging matters
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    model.module.eval()
    batch = model.encode(TEXTS, max_length=24)
    with torch.no_grad():
        unmerged = model.module(batch["input_ids"], batch["attention_mask"]).numpy()
    reference = copy.deepcopy(model.module).merge_and_unload().eval()
    folder = tmp_path_factory.mktemp("export") / "model"
    meta = export_model(model, LABELS, 24, folder)
    return folder, meta, model, reference, batch, unmerged


def test_onnx_logits_equal_torch_logits(exported):
    from qservice.onnx_engine import load_engine

    folder, meta, _, _, _, unmerged = exported
    engine = load_engine(folder, "float32")
    got = engine.logits(TEXTS)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, unmerged, atol=TOL, rtol=0)
    assert meta["max_abs_logit_diff"] <= TOL
    out = engine.predict(TEXTS)
    assert [p["label"] for p in out] == [LABELS[int(i)] for i in unmerged.argmax(axis=1)]
    for p in out:
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)


def test_tokenizer_matches_transformers(exported):
    from qservice.onnx_engine import load_engine

    folder, _, _, _, batch, _ = exported
    ids, mask = load_engine(folder, "float32").encode(TEXTS)
    np.testing.assert_array_equal(ids, batch["input_ids"].numpy())
    np.testing.assert_array_equal(mask, batch["attention_mask"].numpy())
    long = " ".join(["word"] * 200)  # truncated at max_length, as in training
    ids, _ = load_engine(folder, "float32").encode([long])
    assert ids.shape == (1, 24)


@pytest.mark.parametrize("precision", ["int8", "nf4"])
def test_lower_precision_equals_torch_with_the_codecs_weights(exported, precision):
    """The served weights are what qcompress keeps: torch with the same restored weights
    gives the same logits."""
    import qcompress
    import torch

    from qservice.onnx_engine import load_engine

    folder, meta, _, reference, batch, unmerged = exported
    model = copy.deepcopy(reference)
    with torch.no_grad():
        for _, tensor in model.state_dict().items():
            if tensor.is_floating_point() and tensor.numel() >= 16:
                array = tensor.numpy()
                restored = qcompress.decompress(qcompress.compress(array, precision))
                tensor.copy_(torch.as_tensor(np.asarray(restored, dtype=np.float32)))
        expected = model(batch["input_ids"], batch["attention_mask"]).numpy()
    engine = load_engine(folder, precision)
    got = engine.logits(TEXTS)
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    assert not np.allclose(got, unmerged, atol=TOL)  # the codec did change the weights
    info = engine.info
    assert info["precision"] == precision and info == {**meta["precisions"][precision], **info}
    assert info["stored_bytes"] < info["float32_bytes"] / 3


def test_bad_precision_and_missing_files_are_refused(exported, tmp_path):
    from qservice.onnx_engine import ModelUnavailable, load_engine

    folder = exported[0]
    with pytest.raises(ValueError, match="precision"):
        load_engine(folder, "int3")
    with pytest.raises(ModelUnavailable, match=r"model\.onnx"):
        load_engine(tmp_path, "float32")


def test_serving_process_is_slim_and_comes_back_after_a_kill(exported):
    from qservice.serving_process import ServingProcess

    folder = exported[0]
    serving = ServingProcess()
    serving.start()
    try:
        reply = serving.predict(folder, "float32", TEXTS)
        assert reply["ok"] and len(reply["predictions"]) == 3
        stats = serving.stats()
        assert stats["pid"] == serving.pid
        assert "onnxruntime" in stats["modules"] and "tokenizers" in stats["modules"]
        assert not HEAVY & set(stats["modules"]), HEAVY & set(stats["modules"])
        assert stats["loaded"][0]["precision"] == "float32"
        first = serving.pid
        os.kill(first, signal.SIGKILL)
        again = serving.predict(folder, "int8", TEXTS[:1])  # a fresh process answers
        assert again["ok"] and serving.pid != first
        missing = serving.predict(folder.parent / "nowhere", "float32", TEXTS)
        assert not missing["ok"] and missing["error"] == "unavailable"
    finally:
        serving.stop()
