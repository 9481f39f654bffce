import numpy as np
import pytest

from qfed.errors import InvalidConfig, ModelError
from qfed.model import LoraSettings, load_model


def test_trainable_state_is_lora_and_head_only():
    model = load_model("tiny", num_labels=3, lora=LoraSettings(rank=4))
    names = list(model.trainable_state())
    assert names, "something must travel"
    assert all(("lora_" in n) or ("classifier" in n) for n in names)
    assert any("lora_A" in n for n in names) and any("lora_B" in n for n in names)
    total = sum(p.numel() for p in model.module.parameters())
    travelling = sum(v.size for v in model.trainable_state().values())
    assert travelling < 0.2 * total


def test_ffa_lora_freezes_a_and_sends_only_b_and_head():
    model = load_model("tiny", num_labels=3, lora=LoraSettings(rank=4, ffa=True))
    names = list(model.trainable_state())
    assert not any("lora_A" in n for n in names)
    assert any("lora_B" in n for n in names)
    frozen_a = [p for n, p in model.module.named_parameters() if "lora_A" in n]
    assert frozen_a and not any(p.requires_grad for p in frozen_a)


def test_top_layers_adapts_only_the_last_layers():
    model = load_model("tiny", num_labels=3, lora=LoraSettings(top_layers=1))
    lora_names = [n for n in model.trainable_state() if "lora_" in n]
    assert lora_names and all(".layer.1." in n for n in lora_names)
    with pytest.raises(InvalidConfig, match="top_layers"):
        LoraSettings(top_layers=0)


def test_same_seed_same_initialisation_so_ffa_a_agrees_across_clients():
    a = load_model("tiny", num_labels=3, lora=LoraSettings(ffa=True), seed=3)
    b = load_model("tiny", num_labels=3, lora=LoraSettings(ffa=True), seed=3)
    for (name, pa), (_, pb) in zip(
        a.module.named_parameters(), b.module.named_parameters(), strict=True
    ):
        if "lora_A" in name:
            assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())


def test_state_round_trip_and_bad_payloads():
    model = load_model("tiny", num_labels=2)
    state = model.trainable_state()
    changed = {k: v + 1.0 for k, v in state.items()}
    model.load_trainable_state(changed)
    for k, v in model.trainable_state().items():
        np.testing.assert_allclose(v, changed[k])
    key = next(iter(state))
    with pytest.raises(ModelError, match="missing"):
        model.load_trainable_state({k: v for k, v in state.items() if k != key})
    with pytest.raises(ModelError, match="shape"):
        model.load_trainable_state({**state, key: np.zeros((1, 1), np.float32)})
    bad = state[key].copy()
    bad.flat[0] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        model.load_trainable_state({**state, key: bad})


def test_bad_settings_name_the_field(tmp_path):
    with pytest.raises(InvalidConfig, match="rank"):
        LoraSettings(rank=0)
    with pytest.raises(InvalidConfig, match="dropout"):
        LoraSettings(dropout=1.5)
    with pytest.raises(InvalidConfig, match="target_modules"):
        LoraSettings(target_modules="query")
    with pytest.raises(InvalidConfig, match="target_modules"):
        load_model("tiny", num_labels=2, lora=LoraSettings(target_modules=("q_proj",)))
    with pytest.raises(InvalidConfig, match="num_labels"):
        load_model("tiny", num_labels=1)
    with pytest.raises(ModelError, match="local directory"):
        load_model(str(tmp_path / "nowhere"), num_labels=2)


def test_frozen_prefix_then_adapted_layers_equal_the_full_forward(tmp_path):
    import torch

    from qfed.prefix_cache import PrefixCache

    model = load_model("tiny", num_labels=3, lora=LoraSettings(top_layers=1), seed=0)
    assert model.frozen_depth == 1
    texts = ["a short tweet", "a somewhat longer tweet about a delayed flight", "ok"]
    enc = model.encode(texts, max_length=16)
    model.module.eval()
    with torch.no_grad():
        full = model.module(**enc)
        cache = PrefixCache(tmp_path)
        hidden, mask = cache.get(model, texts, 16)
        split = model.classifier_module.forward_from(hidden.float(), mask, 1)
    torch.testing.assert_close(split, full, atol=5e-3, rtol=1e-2)  # float16 storage
    # a second cache on the same folder serves it from disk; other texts are another key
    again = PrefixCache(tmp_path)
    torch.testing.assert_close(again.get(model, texts, 16)[0], hidden)
    assert again.hits == 1 and again.misses == 0
    assert PrefixCache.key(model, texts[:2], 16) != PrefixCache.key(model, texts, 16)
    other = load_model("tiny", num_labels=3, lora=LoraSettings(top_layers=1), seed=1)
    assert PrefixCache.key(other, texts, 16) != PrefixCache.key(model, texts, 16)
    (tmp_path / f"{PrefixCache.key(model, texts, 16)}.pt").write_bytes(b"damaged")
    fresh = PrefixCache(tmp_path)
    torch.testing.assert_close(fresh.get(model, texts, 16)[0], hidden)  # recomputed
    assert fresh.misses == 1


def test_length_sorted_chunks_give_the_padded_forward(monkeypatch):
    import torch

    import qfed.prefix_cache as prefix_cache
    from qfed.prefix_cache import PrefixCache

    model = load_model("tiny", num_labels=3, lora=LoraSettings(top_layers=1), seed=0)
    texts = ["ok", "a longer tweet about a flight that was delayed again", "fine", "two words"]
    texts = texts * 3
    monkeypatch.setattr(prefix_cache, "_CHUNK", 2)  # several chunks of different widths
    hidden, mask = PrefixCache(None).get(model, texts, 16)
    enc = model.encode(texts, max_length=16)
    model.module.eval()
    with torch.no_grad():
        full = model.module(**enc)
        split = model.classifier_module.forward_from(hidden.float(), mask, 1)
    torch.testing.assert_close(split, full, atol=5e-3, rtol=1e-2)
    assert torch.equal(mask, enc["attention_mask"])


def test_bfloat16_prefix_is_close_to_float32_and_keyed_apart():
    import torch

    from qfed.prefix_cache import PrefixCache

    texts = ["a short tweet", "a somewhat longer tweet about a delayed flight", "ok"] * 2
    exact = load_model("tiny", num_labels=3, lora=LoraSettings(top_layers=1), seed=0)
    fast = load_model(
        "tiny", num_labels=3, lora=LoraSettings(top_layers=1), seed=0, prefix_precision="bfloat16"
    )
    assert (exact.prefix_precision, fast.prefix_precision) == ("float32", "bfloat16")
    assert PrefixCache.key(exact, texts, 16) != PrefixCache.key(fast, texts, 16)
    cache = PrefixCache(None)
    reference, mask = cache.get(exact, texts, 16)
    rounded, same_mask = cache.get(fast, texts, 16)
    assert cache.misses == 2  # two entries, not one served for both precisions
    assert torch.equal(mask, same_mask)
    error = (rounded.float() - reference.float()).norm() / reference.float().norm()
    assert 0 < error < 0.02  # bfloat16 rounding: changed, but only by rounding


def test_prefix_precision_auto_resolves_and_bad_values_are_named():
    from qfed.model import resolve_prefix_precision
    from qfed.task import FedConfig

    assert resolve_prefix_precision("auto", "cpu") in ("float32", "bfloat16")
    assert resolve_prefix_precision("float32", "cpu") == "float32"
    assert resolve_prefix_precision("auto", "meta") == "float32"
    with pytest.raises(InvalidConfig, match="prefix_precision must be one of"):
        resolve_prefix_precision("fp8", "cpu")
    with pytest.raises(InvalidConfig, match="prefix_precision must be one of"):
        FedConfig(prefix_precision="half")
