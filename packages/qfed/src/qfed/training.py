"""Local training on one client: DP-SGD with Opacus (or plain SGD), and evaluation.

DP-SGD follows the standard recipe: Poisson sampling of each batch, per-sample gradients by
Opacus hooks, clipping to ``max_grad_norm``, Gaussian noise of ``noise_multiplier *
max_grad_norm``, the noisy sum divided by the expected batch size. What differs from
``PrivacyEngine.make_private`` is where the randomness comes from and which size is used:
the batch coins and the noise are drawn from a :class:`~qfed.randomness.RandomSource` (the
kernel CSPRNG unless a test asks for seeds), and the sample rate and the expected batch come
from a *public* size (a DP count) rather than the exact size of the private data, which
Opacus would otherwise read off the data loader. Every step, empty batches included, is
recorded in the client's :class:`~qfed.privacy.ClientAccountant`, so epsilon composes over
every round, and training stops at the step where the budget would be exceeded.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from opacus.optimizers import DPOptimizer

from qfed.errors import DataError, InvalidConfig
from qfed.model import LoraModel
from qfed.privacy import ClientAccountant, quiet_opacus, steps_per_epoch
from qfed.randomness import RandomSource, SecureRandom

log = logging.getLogger("qfed.training")


@dataclass(frozen=True)
class TrainSettings:
    """Local optimisation settings (one client, one round)."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-3
    max_length: int = 64
    max_grad_norm: float = 1.0
    optimizer: str = "adam"  # "adam" or "sgd" (SGD with momentum 0.9)
    max_steps: int | None = None  # cap per round (None: full epochs)
    # run the frozen layers below the adapters once per example (qfed.prefix_cache)
    cache_prefix: bool = True
    # logit adjustment against label skew (balanced softmax, as FedLC / Menon et al. 2021):
    # the training loss sees logits + log(prior) so a client learns p(x|y), not its own p(y).
    # The prior must be public: under DP it is the client's released noisy histogram.
    class_prior: tuple[float, ...] | None = None

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
        if self.class_prior is not None:
            prior = tuple(float(v) for v in self.class_prior)
            if not prior or not all(math.isfinite(v) and v > 0 for v in prior):
                raise InvalidConfig(
                    f"class_prior must be positive finite numbers, got {self.class_prior!r}"
                )
            object.__setattr__(self, "class_prior", prior)


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


def _inputs(
    model: LoraModel, texts: Sequence[str], max_length: int, cache: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids, or (with frozen layers and ``cache``) the frozen prefix's hidden states."""
    if cache and model.frozen_depth > 0:
        from qfed.prefix_cache import default_cache

        return default_cache().get(model, texts, max_length)
    enc = model.encode(texts, max_length=max_length)
    return enc["input_ids"], enc["attention_mask"]


def _tensors(
    model: LoraModel, texts, labels, max_length: int, cache: bool = True
) -> torch.utils.data.TensorDataset:
    first, mask = _inputs(model, texts, max_length, cache)
    y = torch.as_tensor(np.array(labels, dtype=np.int64))  # a copy: TextData arrays are read-only
    return torch.utils.data.TensorDataset(first, mask, y)


def _logits(model: LoraModel, first: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Forward from token ids, or from cached hidden states (float) past the frozen layers."""
    if first.is_floating_point():
        return model.classifier_module.forward_from(first.float(), mask, model.frozen_depth)
    return model.module(input_ids=first, attention_mask=mask)


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
    public_size: int | None = None,
    source: RandomSource | None = None,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainReport:
    """Train the trainable tensors of ``model`` in place on one client's data.

    With ``accountant`` the round is DP-SGD at the accountant's noise multiplier and sample
    rate, and its history grows by one entry per step (an empty Poisson batch is a step too:
    it releases noise only, as the sampled Gaussian mechanism assumes). ``public_size`` is the
    example count that fixes the sample rate (``1 / ceil(public_size / batch_size)``), the
    steps per epoch and the expected batch size that averages the noisy sum; it must be
    public (a DP count, or a size fixed in advance). Left out, the true size is used, which is
    what Opacus does and is right only when the size itself is public. Batch coins and noise
    come from ``source`` (default: the CSPRNG, :class:`qfed.randomness.SecureRandom`).
    ``seed`` seeds only what privacy does not rest on (non-private shuffling, dropout).
    Without ``accountant``: plain mini-batch training (non-private baseline).
    ``progress(step, total_steps, loss)`` is called after every step if given.
    """
    settings = settings or TrainSettings()
    labels = np.asarray(labels)
    _check_data(texts, labels, model.num_labels, "training data")
    start = time.perf_counter()
    torch.manual_seed(seed)
    dataset = _tensors(model, texts, labels, settings.max_length, settings.cache_prefix)
    params = [p for p in model.module.parameters() if p.requires_grad]
    if settings.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=settings.learning_rate)
    else:
        optimizer = torch.optim.SGD(params, lr=settings.learning_rate, momentum=0.9)
    size = len(dataset) if public_size is None else int(public_size)
    per_epoch = steps_per_epoch(size, settings.batch_size)
    planned = per_epoch * settings.epochs
    if settings.max_steps is not None:
        planned = min(planned, settings.max_steps)
    model.module.train()
    if accountant is None:
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=settings.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        )
        batches = _epochs(loader, planned)
        steps, loss_sum, examples = _run_steps(
            model, optimizer, batches, planned, progress, _log_prior(settings, model)
        )
        model.module.eval()
        return TrainReport(
            num_examples=len(dataset),
            steps=steps,
            loss=loss_sum / max(examples, 1),
            seconds=time.perf_counter() - start,
            epsilon=None,
            delta=None,
            budget_exhausted=False,
            stopped_early=False,
        )

    rate = 1.0 / per_epoch
    if not math.isclose(rate, accountant.sample_rate, rel_tol=1e-9):
        raise InvalidConfig(
            f"the accountant was planned for sample rate {accountant.sample_rate:.6g} but "
            f"a public size of {size} and batch size {settings.batch_size} give {rate:.6g}; "
            "plan it with ClientAccountant.for_target_epsilon(num_examples=<the same public "
            "size>, batch_size=...)"
        )
    allowed = accountant.affordable_steps(planned)
    if allowed == 0:
        model.module.eval()
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
    from opacus.grad_sample.utils import prepare_module
    from opacus.validators import ModuleValidator

    source = source or SecureRandom()
    ModuleValidator.validate(model.module, strict=True)
    hooks = prepare_module(
        model.module,
        "hooks",
        wrap_model=False,
        batch_first=True,
        loss_reduction="mean",
    )
    dp_optimizer = CsprngDPOptimizer(
        optimizer,
        noise_multiplier=accountant.noise_multiplier,
        max_grad_norm=settings.max_grad_norm,
        # the mean divides by the *expected* batch (a public number), never the drawn one
        expected_batch_size=size * rate,
        source=source,
    )
    dp_optimizer.attach_step_hook(
        lambda optim: accountant.record(1, noise_multiplier=optim.noise_multiplier)
    )
    try:
        with quiet_opacus():
            batches = _poisson_batches(dataset, rate, allowed, source)
            steps, loss_sum, examples = _run_steps(
                model, dp_optimizer, batches, allowed, progress, _log_prior(settings, model)
            )
    finally:
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
        epsilon=accountant.epsilon,
        delta=accountant.delta,
        budget_exhausted=accountant.exhausted,
        stopped_early=stopped,
    )


def _epochs(loader: torch.utils.data.DataLoader, steps: int) -> Iterator[tuple]:
    taken = 0
    while taken < steps:
        for batch in loader:
            if taken >= steps:
                return
            taken += 1
            yield batch


def _poisson_batches(
    dataset: torch.utils.data.TensorDataset, rate: float, steps: int, source: RandomSource
) -> Iterator[tuple | None]:
    """``steps`` Poisson batches: each example joins each batch with probability ``rate``.

    The coins come from ``source`` (the CSPRNG by default). ``None`` is an empty batch.
    """
    n = len(dataset)
    for _ in range(steps):
        chosen = np.flatnonzero(source.bernoulli(n, rate))
        if chosen.size == 0:
            yield None
            continue
        index = torch.as_tensor(chosen, dtype=torch.long)
        yield tuple(t[index] for t in dataset.tensors)


def _log_prior(settings: TrainSettings, model: LoraModel) -> torch.Tensor | None:
    if settings.class_prior is None:
        return None
    if len(settings.class_prior) != model.num_labels:
        raise InvalidConfig(
            f"class_prior has {len(settings.class_prior)} entries but the model has "
            f"{model.num_labels} labels"
        )
    prior = torch.tensor(settings.class_prior, dtype=torch.float32)
    return torch.log(prior / prior.sum())


def _run_steps(
    model: LoraModel,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple | None],
    total: int,
    progress: Callable[[int, int, float], None] | None,
    log_prior: torch.Tensor | None = None,
) -> tuple[int, float, int]:
    steps, loss_sum, examples = 0, 0.0, 0
    for batch in batches:
        if batch is None:
            # an empty Poisson batch still releases the noise of its step
            optimizer.zero_grad(set_to_none=True)
            optimizer.noise_only_step()
            steps += 1
            if progress is not None:
                progress(steps, total, float("nan"))
            continue
        ids, mask, y = batch
        ids, mask = _trim(ids, mask)
        optimizer.zero_grad(set_to_none=True)
        logits = _logits(model, ids, mask)
        if log_prior is not None:
            # a fixed public offset: each example's loss still depends on that example only
            logits = logits + log_prior
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        steps += 1
        value = float(loss.detach())
        loss_sum += value * len(y)
        examples += len(y)
        if progress is not None:
            progress(steps, total, value)
    return steps, loss_sum, examples


class CsprngDPOptimizer(DPOptimizer):
    """Opacus' DPOptimizer (per-sample clipping, noise, mean over the expected batch) with
    the Gaussian noise drawn from a :class:`~qfed.randomness.RandomSource`.

    Opacus' own secure mode needs ``torchcsprng``, which no longer builds against current
    torch; its default generator is a Mersenne Twister that anyone who knows the seed can
    replay. Here the noise comes from ``source`` (the kernel CSPRNG by default).
    """

    def __init__(self, optimizer, *, source: RandomSource, **kwargs) -> None:
        super().__init__(optimizer, loss_reduction="mean", **kwargs)
        self.source = source

    def _noise_like(self, reference: torch.Tensor) -> torch.Tensor:
        std = self.noise_multiplier * self.max_grad_norm
        noise = self.source.gaussian(tuple(reference.shape), std)
        return torch.from_numpy(noise).to(dtype=reference.dtype, device=reference.device)

    def add_noise(self) -> None:
        for p in self.params:
            p.grad = (p.summed_grad + self._noise_like(p.summed_grad)).view_as(p)
            p.summed_grad = None  # consumed (Opacus marks it processed; we drop it)

    def noise_only_step(self) -> None:
        """The step of an empty batch: zero clipped sum plus noise, averaged and applied."""
        for p in self.params:
            # the mean over the expected batch, as scale_grad does (which would look for the
            # per-sample gradients an empty batch does not have)
            p.grad = (self._noise_like(p) / self.expected_batch_size).view_as(p)
        if self.step_hook:
            self.step_hook(self)
        self.original_optimizer.step()


@torch.no_grad()
def evaluate(
    model: LoraModel,
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    batch_size: int = 256,
    max_length: int = 64,
    cache_prefix: bool = True,
) -> EvalReport:
    """Loss and accuracy of ``model`` on held-out data (per class too)."""
    labels = np.asarray(labels)
    _check_data(texts, labels, model.num_labels, "evaluation data")
    model.module.eval()
    predictions = np.empty(len(labels), dtype=np.int64)
    loss_sum = 0.0
    first, mask = _inputs(model, texts, max_length, cache_prefix)
    for start in range(0, len(labels), batch_size):
        chunk = slice(start, start + batch_size)
        y = torch.as_tensor(np.array(labels[chunk], dtype=np.int64))
        logits = _logits(model, *_trim(first[chunk], mask[chunk]))
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
