"""Contrastive learning: InfoNCE / NT-Xent losses with in-batch negatives, a trainer, and
retrieval evaluation.

- ``info_nce(a, b)``: row i of ``a`` should match row i of ``b`` among all rows of ``b``
  (van den Oord et al. 2018; the in-batch-negatives loss of CLIP and sentence-transformers'
  MultipleNegativesRankingLoss). Cosine similarities divided by ``temperature``;
  ``symmetric=True`` averages both directions. For unrelated embeddings the similarities are
  about 0 and the loss is about ``log N``: chance level.
- ``nt_xent(z1, z2)``: SimCLR's normalised-temperature cross entropy (Chen et al. 2020): each
  of the ``2N`` views has one positive and ``2N - 2`` negatives (both views of the others).
- ``retrieval_metrics(queries, keys)``: recall@k and mean reciprocal rank when query i's
  answer is key i.
- ``ContrastiveTrainer``: minibatches of (a, b) pairs through any ``encode`` function, AdamW,
  seeded shuffling; ``evaluate`` reports retrieval on held-out pairs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qattention.errors import InvalidArgument, InvalidShape


def _check_pair(a: object, b: object, names: tuple[str, str]) -> None:
    for name, t in zip(names, (a, b), strict=True):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or not t.is_floating_point():
            raise InvalidShape(f"{name} must be a floating-point (N, D) tensor")
    if a.shape != b.shape:
        raise InvalidShape(
            f"{names[0]} and {names[1]} must have one shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    if a.shape[0] < 2:
        raise InvalidShape("contrastive losses need at least 2 pairs (in-batch negatives)")


def _check_temperature(temperature: object) -> float:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise InvalidArgument(f"temperature must be a positive finite number, got {temperature!r}")
    return float(temperature)


def info_nce(
    a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05, *, symmetric: bool = False
) -> torch.Tensor:
    """InfoNCE with in-batch negatives: cross-entropy of ``cos(a_i, b_j) / t`` with target i."""
    _check_pair(a, b, ("a", "b"))
    t = _check_temperature(temperature)
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / t
    target = torch.arange(a.shape[0], device=a.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, target)) / 2
    return loss


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent over ``2N`` views (self-similarity excluded)."""
    _check_pair(z1, z2, ("z1", "z2"))
    t = _check_temperature(temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    logits = z @ z.T / t
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, target)


@torch.no_grad()
def retrieval_metrics(
    queries: torch.Tensor, keys: torch.Tensor, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Recall@k and MRR by cosine similarity, query i's answer being key i (ties: pessimistic)."""
    _check_pair(queries, keys, ("queries", "keys"))
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidArgument(f"ks must be positive integers, got {k!r}")
    sims = F.normalize(queries.double(), dim=-1) @ F.normalize(keys.double(), dim=-1).T
    correct = sims.diagonal().unsqueeze(1)
    # rank = 1 + number of keys at least as similar as the answer (other than itself)
    rank = (sims >= correct).sum(dim=1).double()
    metrics = {f"recall@{k}": float((rank <= k).double().mean()) for k in ks}
    metrics["mrr"] = float((1.0 / rank).mean())
    return metrics


@dataclass
class TrainHistory:
    """Per-step losses and wall time of a :meth:`ContrastiveTrainer.fit` call."""

    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0


class ContrastiveTrainer:
    """Fine-tune ``model`` so that ``encode(model, a_items)`` matches ``encode(model, b_items)``.

    ``encode(model, items) -> (N, D)`` turns a list of items (texts, tensors...) into
    embeddings; the same function serves training and :meth:`evaluate`. ``loss`` is
    ``"info_nce"`` (symmetric InfoNCE, default) or ``"nt_xent"``. Only parameters with
    ``requires_grad`` are optimised (AdamW).
    """

    def __init__(
        self,
        model: nn.Module,
        encode: Callable[[nn.Module, list], torch.Tensor],
        *,
        temperature: float = 0.05,
        loss: str = "info_nce",
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        seed: int = 0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgument(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(encode):
            raise InvalidArgument("encode must be a callable (model, items) -> (N, D) tensor")
        if loss not in ("info_nce", "nt_xent"):
            raise InvalidArgument(f"loss must be 'info_nce' or 'nt_xent', got {loss!r}")
        for name, value in (("lr", lr), ("weight_decay", weight_decay)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidArgument(f"{name} must be a number >= 0, got {value!r}")
        self.model = model
        self.encode = encode
        self.temperature = _check_temperature(temperature)
        self.loss_name = loss
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise InvalidArgument("model has no trainable parameters (requires_grad)")
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        self.rng = np.random.default_rng(seed)

    def _loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "nt_xent":
            return nt_xent(a, b, self.temperature)
        return info_nce(a, b, self.temperature, symmetric=True)

    def fit(
        self, pairs: Sequence[tuple[object, object]], *, epochs: int = 1, batch_size: int = 32
    ) -> TrainHistory:
        """Shuffled minibatches of pairs; every other pair in a batch is a negative."""
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
        if batch_size < 2:
            raise InvalidArgument("batch_size must be >= 2 (in-batch negatives)")
        if len(pairs) < 2:
            raise InvalidArgument(f"pairs must hold at least 2 pairs, got {len(pairs)}")
        history = TrainHistory()
        start = time.perf_counter()
        self.model.train()
        for _ in range(epochs):
            order = self.rng.permutation(len(pairs))
            for i in range(0, len(order), batch_size):
                chunk = order[i : i + batch_size]
                if len(chunk) < 2:
                    continue  # a lone leftover pair has no negative
                a = self.encode(self.model, [pairs[j][0] for j in chunk])
                b = self.encode(self.model, [pairs[j][1] for j in chunk])
                loss = self._loss(a, b)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                history.losses.append(float(loss.detach()))
        self.model.eval()
        history.wall_s = time.perf_counter() - start
        return history

    @torch.no_grad()
    def evaluate(
        self,
        pairs: Sequence[tuple[object, object]],
        *,
        batch_size: int = 128,
        ks: Sequence[int] = (1, 5, 10),
    ) -> dict[str, float]:
        """Retrieval of each pair's ``b`` from its ``a`` among all held-out ``b``."""
        was_training = self.model.training
        self.model.eval()
        a_parts, b_parts = [], []
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i : i + batch_size]
            a_parts.append(self.encode(self.model, [p[0] for p in chunk]))
            b_parts.append(self.encode(self.model, [p[1] for p in chunk]))
        self.model.train(was_training)
        return retrieval_metrics(torch.cat(a_parts), torch.cat(b_parts), ks)
