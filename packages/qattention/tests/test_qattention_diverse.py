"""The QUBO key-subset experiment: exact QUBO optimum >= greedy, feasibility, attention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from qattention import InvalidArgument, greedy_key_subset, qubo_key_subset, subset_attention
from qattention.diverse import _objective, _problem_terms


def _case(seed: int, S: int = 12, E: int = 6):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(S, E, generator=g, dtype=torch.float64)
    keys[1] = keys[0] + 0.01 * torch.randn(E, generator=g, dtype=torch.float64)  # near copy
    q = keys[0] + 0.1 * torch.randn(E, generator=g, dtype=torch.float64)
    return q @ keys.T, keys


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qubo_subset_is_the_brute_force_optimum(seed):
    scores, keys = _case(seed)
    got = qubo_key_subset(scores, keys, 3, candidates=8, redundancy=2.0, solver="exact")
    index, p, pairwise = _problem_terms(scores, keys, 8, 2.0)
    best = max(itertools.combinations(range(8), 3), key=lambda c: _objective(p, pairwise, list(c)))
    assert sorted(index[list(best)].tolist()) == got.indices
    assert got.objective == pytest.approx(_objective(p, pairwise, list(best)))
    greedy = greedy_key_subset(scores, keys, 3, candidates=8, redundancy=2.0)
    assert greedy.objective <= got.objective + 1e-12
    assert got.solver == "exact" and got.wall_s > 0


def test_redundancy_zero_is_plain_top_k_and_redundancy_drops_a_near_copy():
    scores, keys = _case(3)
    plain = qubo_key_subset(scores, keys, 3, candidates=8, redundancy=0.0)
    assert plain.indices == sorted(torch.topk(scores, 3).indices.tolist())
    diverse = qubo_key_subset(scores, keys, 3, candidates=8, redundancy=5.0)
    assert not {0, 1} <= set(diverse.indices)


def test_subset_attention_shapes_and_gradient():
    g = torch.Generator().manual_seed(4)
    q = torch.randn(3, 4, generator=g, requires_grad=True)
    k = torch.randn(10, 4, generator=g)
    v = torch.randn(10, 2, generator=g)
    a = subset_attention(q, k, v, 2, method="qubo", candidates=6)
    b = subset_attention(q, k, v, 2, method="greedy", candidates=6, redundancy=0.0)
    assert a.shape == b.shape == (3, 2)
    a.sum().backward()
    assert np.isfinite(q.grad.numpy()).all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": 9}, "top_k"),
        ({"top_k": 2, "candidates": 40}, "candidates"),
        ({"top_k": 2, "redundancy": -1.0}, "redundancy"),
        ({"top_k": 2, "redundancy": float("inf")}, "redundancy"),
    ],
)
def test_bad_arguments(kwargs, field):
    scores, keys = _case(5)
    with pytest.raises(InvalidArgument, match=field):
        qubo_key_subset(scores, keys, candidates=kwargs.pop("candidates", 8), **kwargs)
    with pytest.raises(InvalidArgument, match="method"):
        subset_attention(keys, keys, keys, 2, method="annealing")
