"""Local training on one client: DP-SGD with Opacus (or plain SGD), and evaluation.

DP-SGD follows the standard recipe: Poisson sampling of each batch, per-sample gradients by
Opacus hooks, clipping to ``max_grad_norm``, Gaussian noise of ``noise_multiplier *
max_grad_norm``. The client's :class:`~qfed.privacy.ClientAccountant` is attached in place of
the engine's own, so epsilon composes over every round, and training stops at the step where
the budget would be exceeded.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from qfed.errors import DataError, InvalidConfig
from qfed.model import LoraModel
from qfed.privacy import ClientAccountant, quiet_opacus, steps_per_epoch

log = logging.getLogger("qfed.training")


@dataclass(frozen=True)
class TrainSettings:
    """Local optimisation settings (one client, one round)."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-3
    max_length: int = 64
    max_grad_norm: float = 1.0
    optimizer: str = "adam"  # "adam" or "sgd"
    max_steps: int | None = None  # cap per round (None: full epochs)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidConfig(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InvalidConfig(f"batch_size must be >= 1, got {self.batch_size}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise InvalidConfig(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.max_grad_norm > 0:
            raise InvalidConfig(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.optimizer not in ("adam", "sgd"):
            raise InvalidConfig(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InvalidConfig(f"max_steps must be >= 1 or None, got {self.max_steps}")


@dataclass(frozen=True)
class TrainReport:
    """What one client's round did."""

    num_examples: int
    steps: int
    loss: float
    seconds: float
    epsilon: float | None  # spent so far over all rounds (None: non-private)
    delta: float | None
    budget_exhausted: bool  # the client cannot train further under its budget
    stopped_early: bool  # this round ended before its planned steps because of the budget


@dataclass(frozen=True)
class EvalReport:
    loss: float
    accuracy: float
    num_examples: int
    per_class_accuracy: tuple[float, ...]


def _check_data(texts: Sequence[str], labels: np.ndarray, num_labels: int, what: str) -> None:
    if len(texts) != len(labels):
        raise DataError(f"{what}: {len(texts)} texts but {len(labels)} labels")
    if len(texts) == 0:
        raise DataError(f"{what}: no examples")
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= num_labels:
        raise DataError(
            f"{what}: labels must be in 0..{num_labels - 1} for this model, "
            f"got range {labels.min()}..{labels.max()}"
        )


def _tensors(model: LoraModel, texts, labels, max_length: int) -> torch.utils.data.TensorDataset:
    enc = model.encode(texts, max_length=max_length)
    y = torch.as_tensor(np.array(labels, dtype=np.int64))  # a copy: TextData arrays are read-only
    return torch.utils.data.TensorDataset(enc["input_ids"], enc["attention_mask"], y)


def _trim(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # the dataset is padded to its longest text; a batch only needs its own longest
    width = max(int(mask.sum(dim=1).max()), 1)
    return ids[:, :width], mask[:, :width]


def train_local(
    model: LoraModel,
    texts: Sequence[str],
    labels: np.ndarray,
    settings: TrainSettings | None = None,
    *,
    accountant: ClientAccountant | None = None,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainReport:
    """Train the trainable tensors of ``model`` in place on one client's data.

    With ``accountant`` the round is DP-SGD at the accountant's noise multiplier and sample
    rate (``batch_size / n`` as Opacus computes it), and its history grows by the steps taken.
    Without it, plain mini-batch training (non-private baseline).
    ``progress(step, total_steps, loss)`` is called after every step if given.
    """
    settings = settings or TrainSettings()
    labels = np.asarray(labels)
    _check_data(texts, labels, model.num_labels, "training data")
    start = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    dataset = _tensors(model, texts, labels, settings.max_length)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=settings.batch_size, shuffle=True, generator=generator
    )
    params = [p for p in model.module.parameters() if p.requires_grad]
    if settings.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=settings.learning_rate)
    else:
        optimizer = torch.optim.SGD(params, lr=settings.learning_rate, momentum=0.9)

    planned = steps_per_epoch(len(dataset), settings.batch_size) * settings.epochs
    if settings.max_steps is not None:
        planned = min(planned, settings.max_steps)
    allowed = planned
    hooks = None
    model.module.train()
    if accountant is not None:
        rate = 1.0 / steps_per_epoch(len(dataset), settings.batch_size)
        if not math.isclose(rate, accountant.sample_rate, rel_tol=1e-9):
            raise InvalidConfig(
                f"the accountant was planned for sample rate {accountant.sample_rate:.6g} but "
                f"this client's data and batch size give {rate:.6g}; plan it with "
                "ClientAccountant.for_target_epsilon(num_examples=..., batch_size=...) "
                "on this client's data"
            )
        allowed = accountant.affordable_steps(planned)
        if allowed == 0:
            log.info("privacy budget spent (epsilon %.3f): not training", accountant.epsilon)
            return TrainReport(
                num_examples=0,
                steps=0,
                loss=float("nan"),
                seconds=time.perf_counter() - start,
                epsilon=accountant.epsilon,
                delta=accountant.delta,
                budget_exhausted=True,
                stopped_early=True,
            )
        from opacus import PrivacyEngine

        with quiet_opacus():
            engine = PrivacyEngine(accountant="rdp")
            # the client's own accountant spans all rounds; a fresh engine's would not
            engine.accountant = _HistoryTap(accountant)
            hooks, optimizer, loader = engine.make_private(
                module=model.module,
                optimizer=optimizer,
                data_loader=loader,
                noise_multiplier=accountant.noise_multiplier,
                max_grad_norm=settings.max_grad_norm,
                poisson_sampling=True,
                grad_sample_mode="hooks",
                wrap_model=False,
                noise_generator=torch.Generator().manual_seed(seed + 1),
            )
    steps, loss_sum, examples = 0, 0.0, 0
    try:
        with quiet_opacus():
            while steps < allowed:
                for ids, mask, y in loader:
                    if steps >= allowed:
                        break
                    if len(y) == 0:
                        # an empty Poisson batch: nothing to compute; skipping releases nothing
                        continue
                    ids, mask = _trim(ids, mask)
                    optimizer.zero_grad(set_to_none=True)
                    logits = model.module(input_ids=ids, attention_mask=mask)
                    loss = torch.nn.functional.cross_entropy(logits, y)
                    loss.backward()
                    optimizer.step()
                    steps += 1
                    value = float(loss.detach())
                    loss_sum += value * len(y)
                    examples += len(y)
                    if progress is not None:
                        progress(steps, allowed, value)
    finally:
        if hooks is not None:
            hooks.cleanup()
        model.module.eval()
    stopped = allowed < planned
    if stopped:
        log.info("privacy budget reached after %d of %d planned steps", allowed, planned)
    return TrainReport(
        num_examples=len(dataset),
        steps=steps,
        loss=loss_sum / max(examples, 1),
        seconds=time.perf_counter() - start,
        epsilon=None if accountant is None else accountant.epsilon,
        delta=None if accountant is None else accountant.delta,
        budget_exhausted=accountant is not None and accountant.exhausted,
        stopped_early=stopped,
    )


class _HistoryTap:
    """Stands in for Opacus's accountant: records each optimizer step in ours."""

    def __init__(self, accountant: ClientAccountant) -> None:
        self.accountant = accountant

    def get_optimizer_hook_fn(self, sample_rate: float):
        def hook(optim) -> None:
            self.accountant.record(1, noise_multiplier=optim.noise_multiplier)

        return hook


@torch.no_grad()
def evaluate(
    model: LoraModel,
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    batch_size: int = 256,
    max_length: int = 64,
) -> EvalReport:
    """Loss and accuracy of ``model`` on held-out data (per class too)."""
    labels = np.asarray(labels)
    _check_data(texts, labels, model.num_labels, "evaluation data")
    model.module.eval()
    predictions = np.empty(len(labels), dtype=np.int64)
    loss_sum = 0.0
    for start in range(0, len(labels), batch_size):
        chunk = slice(start, start + batch_size)
        enc = model.encode(texts[chunk], max_length=max_length)
        y = torch.as_tensor(np.array(labels[chunk], dtype=np.int64))
        logits = model.module(**enc)
        loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
        predictions[chunk] = logits.argmax(dim=1).numpy()
    correct = predictions == labels
    per_class = tuple(
        float(correct[labels == c].mean()) if np.any(labels == c) else float("nan")
        for c in range(model.num_labels)
    )
    return EvalReport(
        loss=loss_sum / len(labels),
        accuracy=float(correct.mean()),
        num_examples=len(labels),
        per_class_accuracy=per_class,
    )
