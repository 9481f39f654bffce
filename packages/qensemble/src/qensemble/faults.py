"""Fault injection for members: model factories that fail on purpose, once.

Used by the tests and the benchmark to exercise retries, worker replacement and resuming
from checkpoints. A fault fires only while its ``marker`` file does not exist, and creates it
when it fires, so the retry (in any process) succeeds. Picklable, so they reach workers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FailOnce"]

MODES = ("raise", "exit", "hang")


def _fire(marker: str) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # atomic: exactly one fires
    except FileExistsError:
        return False
    os.close(fd)
    return True


@dataclass(frozen=True)
class FailOnce:
    """Wraps ``model_fn``; the model it builds fails at forward call ``at_step`` the first time.

    ``mode``: ``"raise"`` a RuntimeError, ``"exit"`` the worker process (os._exit: a crash),
    or ``"hang"`` (sleep ``hang_s``, for timeouts). Whichever member first reaches that step
    while the marker is absent fires it; all later ones (and the retry) run normally.
    """

    model_fn: Any
    marker: str
    at_step: int = 5
    mode: str = "raise"
    hang_s: float = 600.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: is {self.mode!r}; choose one of {', '.join(MODES)}.")

    def __call__(self) -> Any:
        import torch

        inner = self.model_fn()
        spec = self

        class _Faulty(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = inner
                self.calls = 0

            def forward(self, x: Any) -> Any:
                self.calls += 1
                if self.training and self.calls == spec.at_step and _fire(spec.marker):
                    if spec.mode == "exit":
                        os._exit(17)
                    if spec.mode == "hang":
                        time.sleep(spec.hang_s)
                    raise RuntimeError(f"injected fault at step {spec.at_step}")
                return self.inner(x)

        Path(self.marker).parent.mkdir(parents=True, exist_ok=True)
        return _Faulty()
