"""A torch router layer for MoE blocks: differentiable gates, assignment from any router.

Needs the ``torch`` extra (``pip install 'qrouting[torch]'``). ``topk`` and ``sinkhorn`` run
natively on the logits' device (CPU or GPU); every other router runs on CPU numpy over the
detached logits, and its indices come back to the device. Gates are always
``softmax(logits)`` gathered at the chosen experts, so gradients reach the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qrouting.errors import InvalidRouting, MissingExtra

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtra(
        "the torch router needs PyTorch: install the extra with pip install 'qrouting[torch]' "
        "(or uv sync --extra torch)."
    ) from exc

from qrouting.plan import RoutingPlan
from qrouting.problem import RoutingProblem, capacity_for
from qrouting.routers import Router, get_router

NATIVE = ("topk", "sinkhorn")


@dataclass
class RouterOutput:
    indices: torch.Tensor  # [N, w] long, -1 = dropped, on the input's device
    gates: torch.Tensor  # [N, w] differentiable, 0 where dropped
    logits: torch.Tensor  # [N, E]
    loads: torch.Tensor  # [E] tokens per expert
    plan: RoutingPlan | None  # the numpy plan when a non-native router ran


def capacity_mask(choices: torch.Tensor, num_experts: int, capacity: int) -> torch.Tensor:
    """Switch/GShard capacity on device: rank by rank, tokens in batch order; ``-1`` = drop."""
    out = torch.full_like(choices, -1)
    used = torch.zeros(num_experts, dtype=torch.long, device=choices.device)
    for j in range(choices.shape[1]):
        onehot = torch.nn.functional.one_hot(choices[:, j], num_experts)
        position = torch.cumsum(onehot, dim=0) - 1 + used[None, :]
        pos = (position * onehot).sum(dim=1)
        keep = pos < capacity
        out[:, j] = torch.where(keep, choices[:, j], torch.full_like(choices[:, j], -1))
        used = used + (onehot * keep[:, None]).sum(dim=0)
    return out


def sinkhorn_torch(logits: torch.Tensor, k: int, capacity: int, n_iter: int = 50) -> torch.Tensor:
    """Log-domain Sinkhorn balancing on device; returns the balanced log-plan ``[N, E]``."""
    N, E = logits.shape
    col = min(N * k / E, float(capacity))
    row = col * E / N
    log_p = torch.log_softmax(logits.float(), dim=1)
    u = torch.zeros(N, device=logits.device)
    v = torch.zeros(E, device=logits.device)
    for _ in range(n_iter):
        u = math.log(row) - torch.logsumexp(log_p + v[None, :], dim=1)
        v = math.log(col) - torch.logsumexp(log_p + u[:, None], dim=0)
    return log_p + u[:, None] + v[None, :]


class RouterLayer(nn.Module):
    """``logits = W x``; experts chosen by ``router`` (any qrouting router name or instance);
    ``gates = softmax(logits)[chosen]`` (renormalised over the chosen experts when
    ``normalize_gates``). Works on any device; ``forward`` takes ``[..., d_model]``."""

    def __init__(
        self,
        d_model: int,
        num_experts: int,
        k: int = 2,
        router: str | Router = "topk",
        capacity_factor: float = 1.25,
        normalize_gates: bool = True,
        **router_options: Any,
    ) -> None:
        super().__init__()
        if k < 1 or k > num_experts:
            raise InvalidRouting(f"k: {k}; it must be in 1..num_experts ({num_experts}).")
        self.gate = nn.Linear(d_model, num_experts, bias=False)
        self.num_experts, self.k = num_experts, k
        self.capacity_factor = capacity_factor
        self.normalize_gates = normalize_gates
        self.router_name = router if isinstance(router, str) else router.name
        self._native = isinstance(router, str) and router in NATIVE and not router_options
        self._router = (
            None
            if self._native
            else (router if isinstance(router, Router) else get_router(router, **router_options))
        )

    def forward(self, x: torch.Tensor) -> RouterOutput:
        x = x.reshape(-1, x.shape[-1])
        logits = self.gate(x)
        N = logits.shape[0]
        cap = capacity_for(N, self.num_experts, self.k, self.capacity_factor)
        plan = None
        with torch.no_grad():
            if self._native and self.router_name == "topk":
                choices = torch.topk(logits, self.k, dim=1).indices
                idx = capacity_mask(choices, self.num_experts, cap)
            elif self._native:
                balanced = sinkhorn_torch(logits.detach(), self.k, cap)
                choices = torch.topk(balanced, self.k, dim=1).indices
                idx = capacity_mask(choices, self.num_experts, cap)
            else:
                assert self._router is not None
                problem = RoutingProblem.from_scores(
                    logits.detach(), self.k, self.capacity_factor, capacity=cap
                )
                plan = self._router.route(problem)
                idx = torch.as_tensor(plan.indices, device=logits.device, dtype=torch.long)
        probs = torch.softmax(logits, dim=1)
        placed = idx >= 0
        gates = torch.gather(probs, 1, idx.clamp(min=0)) * placed
        if self.normalize_gates:
            gates = gates / gates.sum(dim=1, keepdim=True).clamp(min=1e-9)
        loads = torch.bincount(idx[placed], minlength=self.num_experts)
        return RouterOutput(idx, gates, logits, loads, plan)


class MoEBlock(nn.Module):
    """A minimal mixture-of-experts feed-forward block: ``x + sum_j gate_j * expert_j(x)``."""

    def __init__(
        self,
        d_model: int,
        d_hidden: int,
        num_experts: int,
        k: int = 2,
        router: str | Router = "topk",
        capacity_factor: float = 1.25,
        **router_options: Any,
    ) -> None:
        super().__init__()
        self.router = RouterLayer(
            d_model, num_experts, k, router, capacity_factor, **router_options
        )
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model))
            for _ in range(num_experts)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, RouterOutput]:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        routed = self.router(flat)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            tok, slot = torch.nonzero(routed.indices == e, as_tuple=True)
            if tok.numel() == 0:
                continue
            y = expert(flat[tok]) * routed.gates[tok, slot][:, None]
            out = out.index_add(0, tok, y)
        return (flat + out).reshape(shape), routed


def train_tiny_moe(
    router: str = "topk",
    steps: int = 150,
    seed: int = 0,
    num_experts: int = 4,
    k: int = 2,
    device: str | torch.device = "cpu",
    batch: int = 256,
    **router_options: Any,
) -> list[float]:
    """Train a tiny MoE regressor on a 4-cluster task; returns the loss per step.

    Each cluster of inputs has its own linear target map, so experts can specialise.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    d = 8
    centers = torch.randn(4, d, generator=gen) * 3
    maps = torch.randn(4, d, d, generator=gen)
    block = MoEBlock(d, 32, num_experts, k, router, capacity_factor=1.5, **router_options)
    head = nn.Linear(d, d)
    model = nn.ModuleList([block, head]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        cluster = torch.randint(0, 4, (batch,), generator=gen)
        x = centers[cluster] + torch.randn(batch, d, generator=gen)
        y = torch.einsum("nij,nj->ni", maps[cluster], x) / math.sqrt(d)
        x, y = x.to(device), y.to(device)
        h, _ = block(x)
        loss = torch.mean((head(h) - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses
