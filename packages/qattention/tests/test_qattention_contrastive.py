"""InfoNCE / NT-Xent against their definitions, chance level log N, retrieval, training."""

from __future__ import annotations

import math

import pytest
import torch

from qattention.contrastive import ContrastiveTrainer, info_nce, nt_xent, retrieval_metrics
from qattention.errors import InvalidArgument, InvalidShape


@pytest.mark.parametrize("n", [8, 64, 256])
def test_loss_of_random_embeddings_is_about_log_n(n):
    g = torch.Generator().manual_seed(n)
    a, b = torch.randn(n, 4096, generator=g), torch.randn(n, 4096, generator=g)
    # cosines of independent 4096-d vectors are ~N(0, 1/64): at temperature 1 the loss is
    # log N to within a few hundredths
    assert float(info_nce(a, b, temperature=1.0)) == pytest.approx(math.log(n), abs=0.03)
    assert float(nt_xent(a, b, temperature=1.0)) == pytest.approx(math.log(2 * n - 1), abs=0.03)


def test_info_nce_matches_its_definition():
    g = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(5, 7, generator=g, dtype=torch.float64),
        torch.randn(5, 7, generator=g, dtype=torch.float64),
    )
    t = 0.3
    cos = torch.nn.functional.cosine_similarity(a[:, None], b[None], dim=-1) / t
    expected = sum(-(cos[i, i] - torch.logsumexp(cos[i], 0)) for i in range(5)) / 5
    assert float(info_nce(a, b, t)) == pytest.approx(float(expected), rel=1e-10)
    back = sum(-(cos[i, i] - torch.logsumexp(cos[:, i], 0)) for i in range(5)) / 5
    sym = float(info_nce(a, b, t, symmetric=True))
    assert sym == pytest.approx(float(expected + back) / 2, rel=1e-10)


def test_nt_xent_matches_its_definition():
    g = torch.Generator().manual_seed(1)
    z1, z2 = (
        torch.randn(4, 6, generator=g, dtype=torch.float64),
        torch.randn(4, 6, generator=g, dtype=torch.float64),
    )
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=-1)
    t = 0.5
    total = 0.0
    for i in range(8):
        j = (i + 4) % 8
        others = [k for k in range(8) if k != i]
        denom = torch.logsumexp(torch.stack([z[i] @ z[k] / t for k in others]), 0)
        total += float(-(z[i] @ z[j] / t - denom))
    assert float(nt_xent(z1, z2, t)) == pytest.approx(total / 8, rel=1e-10)


def test_aligned_embeddings_give_a_small_loss_and_perfect_retrieval():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(32, 64, generator=g)
    assert float(info_nce(a, a, temperature=0.01)) < 1e-3
    metrics = retrieval_metrics(a, a + 0.01 * torch.randn(32, 64, generator=g))
    assert metrics["recall@1"] == 1.0 and metrics["mrr"] == 1.0
    shuffled = retrieval_metrics(a, a.roll(1, dims=0))
    assert shuffled["recall@1"] == 0.0
    ties = retrieval_metrics(torch.ones(4, 3), torch.ones(4, 3), ks=(1, 4))
    assert ties["recall@1"] == 0.0 and ties["recall@4"] == 1.0  # ties count against


def test_trainer_learns_to_align_two_views():
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(3)
    latent = torch.randn(600, 8, generator=g)
    mix_a, mix_b = torch.randn(8, 32, generator=g), torch.randn(8, 32, generator=g)
    view_a = latent @ mix_a + 0.1 * torch.randn(600, 32, generator=g)
    view_b = latent @ mix_b + 0.1 * torch.randn(600, 32, generator=g)
    pairs = [(("a", view_a[i]), ("b", view_b[i])) for i in range(600)]

    class TwoTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(32, 16), torch.nn.Linear(32, 16)

    def encode(model, items):
        side = items[0][0]
        x = torch.stack([t for _, t in items])
        return model.a(x) if side == "a" else model.b(x)

    trainer = ContrastiveTrainer(TwoTower(), encode, temperature=0.1, lr=1e-2, seed=0)
    before = trainer.evaluate(pairs[500:])
    history = trainer.fit(pairs[:500], epochs=5, batch_size=50)
    after = trainer.evaluate(pairs[500:])
    assert history.losses[-1] < history.losses[0]
    assert after["recall@1"] > before["recall@1"] + 0.3
    nt = ContrastiveTrainer(TwoTower(), encode, loss="nt_xent", temperature=0.2, lr=1e-2)
    hist = nt.fit(pairs[:100], epochs=2, batch_size=25)
    assert len(hist.losses) == 8


def test_bad_input():
    a = torch.randn(4, 3)
    with pytest.raises(InvalidArgument, match="temperature"):
        info_nce(a, a, temperature=0.0)
    with pytest.raises(InvalidArgument, match="temperature"):
        nt_xent(a, a, temperature=float("nan"))
    with pytest.raises(InvalidShape, match="one shape"):
        info_nce(a, torch.randn(5, 3))
    with pytest.raises(InvalidShape, match="at least 2"):
        info_nce(a[:1], a[:1])
    with pytest.raises(InvalidShape, match="floating"):
        retrieval_metrics(a.long(), a.long())
    with pytest.raises(InvalidArgument, match="ks"):
        retrieval_metrics(a, a, ks=(0,))
    model = torch.nn.Linear(3, 3)
    with pytest.raises(InvalidArgument, match="loss"):
        ContrastiveTrainer(model, lambda m, x: x, loss="triplet")
    with pytest.raises(InvalidArgument, match="encode"):
        ContrastiveTrainer(model, None)
    trainer = ContrastiveTrainer(model, lambda m, x: m(torch.stack(x)))
    with pytest.raises(InvalidArgument, match="batch_size"):
        trainer.fit([(a[0], a[1])] * 4, batch_size=1)
    with pytest.raises(InvalidArgument, match="pairs"):
        trainer.fit([(a[0], a[1])])
    model.requires_grad_(False)
    with pytest.raises(InvalidArgument, match="trainable"):
        ContrastiveTrainer(model, lambda m, x: x)
