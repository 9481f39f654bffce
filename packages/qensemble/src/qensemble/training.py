"""Training one member: the function a worker process (or Ray actor) runs.

Everything a member needs travels in a :class:`MemberTask` (picklable): the model factory,
the data, the member's seeds and the training settings. Training is deterministic per task:
epoch ``e`` shuffles with a generator seeded by ``(seed, e)`` and seeds torch's global RNG
(dropout) the same way, so a member resumed from a checkpoint at epoch ``e`` ends with the
same parameters as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qensemble._checks import check_int
from qensemble.errors import InvalidParameter

__all__ = ["MemberResult", "MemberTask", "TrainConfig", "predict_member", "train_member"]

VIEWS = ("bootstrap", "subsample", "full")


@dataclass(frozen=True)
class TrainConfig:
    """How every member trains. ``view`` is the member's data view: a bootstrap resample
    (bagging), a ``subsample`` fraction without replacement, or the ``full`` data; ``noise_std``
    adds Gaussian input noise per batch (an augmentation; 0 turns it off)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 0.0
    view: str = "bootstrap"
    subsample: float = 0.8
    noise_std: float = 0.0
    checkpoint_every: int = 1
    threads: int = 1  # torch threads per worker: 2 workers x 1 thread on 2 cores

    def __post_init__(self) -> None:
        check_int(self.epochs, "epochs", 1)
        check_int(self.batch_size, "batch_size", 1)
        check_int(self.checkpoint_every, "checkpoint_every", 1)
        check_int(self.threads, "threads", 1)
        for name in ("lr", "weight_decay", "subsample", "noise_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameter(f"{name}: is {value!r}; pass a number.")
            if not np.isfinite(value) or value < 0:
                raise InvalidParameter(f"{name}: is {value}; pass a finite number >= 0.")
        if self.lr <= 0:
            raise InvalidParameter(f"lr: is {self.lr}; pass a learning rate > 0.")
        if not 0 < self.subsample <= 1:
            raise InvalidParameter(f"subsample: is {self.subsample}; pass a fraction in (0, 1].")
        if self.view not in VIEWS:
            raise InvalidParameter(f"view: is {self.view!r}; choose one of {', '.join(VIEWS)}.")


@dataclass(frozen=True)
class MemberTask:
    index: int
    seed: int  # data view, shuffling, dropout
    init_seed: int  # parameter initialisation (shared by all members for soups)
    model_fn: Any
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    config: TrainConfig
    checkpoint_dir: str | None = None
    key: str = ""  # fingerprint of everything above; a checkpoint from another key is refused


@dataclass
class MemberResult:
    index: int
    seed: int
    state: dict[str, np.ndarray]
    val_accuracy: float
    epochs: int
    resumed_from_epoch: int  # 0: trained from scratch
    seconds: float
    pid: int
    cpu_seconds: float = 0.0  # CPU time of the worker process on this member
    log: list[str] = field(default_factory=list)


def fingerprint(model_fn: Any, config: TrainConfig, seed: int, init_seed: int, *arrays: Any) -> str:
    digest = hashlib.sha256()
    digest.update(pickle.dumps((model_fn, config, seed, init_seed)))
    for a in arrays:
        array = np.ascontiguousarray(a)
        digest.update(str((array.shape, array.dtype)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def checkpoint_paths(directory: str | Path, index: int) -> tuple[Path, Path]:
    root = Path(directory)
    return root / f"member_{index:03d}.pt", root / f"member_{index:03d}.partial.pt"


def _view(n: int, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    if config.view == "bootstrap":
        return rng.integers(0, n, size=n)
    if config.view == "subsample":
        return rng.choice(n, size=max(1, round(config.subsample * n)), replace=False)
    return np.arange(n)


def load_checkpoint(path: Path, key: str) -> dict | None:
    """A checkpoint file's contents if it exists and was written for ``key`` (tensors and
    plain values only: loaded with ``weights_only=True``, so no pickle runs)."""
    import torch

    if not path.exists():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("key") != key:
        raise InvalidParameter(
            f"checkpoint_dir: {path.name} was written for a different member configuration; "
            "use a fresh checkpoint_dir or delete the file."
        )
    return blob


def train_member(task: MemberTask) -> MemberResult:
    """Train one member from ``task`` (resuming from its partial checkpoint if there is one)."""
    import torch

    start = time.perf_counter()
    cpu_start = time.process_time()
    torch.set_num_threads(task.config.threads)
    cfg = task.config
    torch.manual_seed(task.init_seed)
    model = task.model_fn()
    if not isinstance(model, torch.nn.Module):
        raise InvalidParameter(
            f"model_fn: returned {type(model).__name__}; it must return a torch.nn.Module."
        )
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    view = _view(len(task.x), cfg, np.random.default_rng([task.seed, 0]))
    x = torch.as_tensor(task.x[view], dtype=torch.float32)
    y = torch.as_tensor(task.y[view], dtype=torch.long)
    partial = final = None
    first_epoch = 0
    if task.checkpoint_dir is not None:
        final, partial = checkpoint_paths(task.checkpoint_dir, task.index)
        blob = load_checkpoint(partial, task.key)
        if blob is not None:
            model.load_state_dict(blob["model"])
            optimiser.load_state_dict(blob["optimiser"])
            first_epoch = int(blob["epoch"])
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(first_epoch, cfg.epochs):
        model.train()
        torch.manual_seed(task.seed * 100_003 + epoch + 1)  # dropout and noise for this epoch
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(task.seed + epoch))
        for start_i in range(0, len(x), cfg.batch_size):
            batch = order[start_i : start_i + cfg.batch_size]
            xb = x[batch]
            if cfg.noise_std:
                xb = xb + cfg.noise_std * torch.randn_like(xb)
            optimiser.zero_grad()
            loss = loss_fn(model(xb), y[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"member {task.index}: loss became {loss.item()} at epoch {epoch}; "
                    "lower lr or check the data for NaN/inf."
                )
            loss.backward()
            optimiser.step()
        if partial is not None and ((epoch + 1) % cfg.checkpoint_every == 0):
            tmp = partial.with_suffix(".tmp")
            torch.save(
                {
                    "key": task.key,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                },
                tmp,
            )
            os.replace(tmp, partial)  # atomic: a crash mid-write leaves the old checkpoint
    state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    probs = predict_member(task.model_fn, state, task.x_val)
    accuracy = float((probs.argmax(axis=1) == task.y_val).mean()) if len(task.y_val) else 0.0
    result = MemberResult(
        task.index,
        task.seed,
        state,
        accuracy,
        cfg.epochs,
        first_epoch,
        time.perf_counter() - start,
        os.getpid(),
        time.process_time() - cpu_start,
    )
    if final is not None:
        tmp = final.with_suffix(".tmp")
        # tensors and plain values only, so loading needs no pickle (weights_only=True)
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        fields["state"] = {k: torch.from_numpy(v) for k, v in result.state.items()}
        torch.save({"key": task.key, "result": fields}, tmp)
        os.replace(tmp, final)
        if partial is not None and partial.exists():
            partial.unlink()
    return result


def load_final(directory: str | Path, index: int, key: str) -> MemberResult | None:
    """The finished member ``index`` from ``directory`` if it was trained with ``key``."""
    final, _ = checkpoint_paths(directory, index)
    blob = load_checkpoint(final, key)
    if blob is None:
        return None
    fields = dict(blob["result"])
    fields["state"] = {k: v.numpy() for k, v in fields["state"].items()}
    return MemberResult(**fields)


def build_model(model_fn: Any, state: dict[str, np.ndarray]):  # -> torch.nn.Module
    import torch

    model = model_fn()
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    model.eval()
    return model


def predict_member(model_fn: Any, state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Class probabilities ``[samples, classes]`` of one member on ``x``."""
    import torch

    model = build_model(model_fn, state)
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(x), dtype=torch.float32))
    return torch.softmax(logits, dim=1).numpy().astype(np.float64)
