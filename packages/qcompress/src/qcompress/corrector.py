"""A learned residual corrector for the decoder (the seeds' "LSTM enhancer", as a small
convolutional network): it reads the decoded values around each position and predicts the
quantisation residual, which is added back.

It can only win where the residual is predictable from the decoded neighbourhood, e.g. the
error a fixed codebook (NF4, int4) makes inside a block whose scale its neighbours reveal. For
entropy-coded quantisation with centroid reconstruction the conditional mean is already stored,
and little is left to learn. ``tools/bench_qcompress.py --section corrector`` measures the gain
on held-out MiniLM layers; it is reported, not assumed. Values are normalised by the decoded
tensor's standard deviation, so one corrector serves tensors of different scales.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from qcompress.errors import InvalidSettings

__all__ = ["ResidualCorrector"]


class ResidualCorrector(torch.nn.Module):
    def __init__(self, window: int = 9, hidden: int = 16, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(window, int) or window < 1 or window % 2 == 0:
            raise InvalidSettings(f"window: must be an odd positive integer, got {window!r}")
        if not isinstance(hidden, int) or hidden < 1:
            raise InvalidSettings(f"hidden: must be a positive integer, got {hidden!r}")
        torch.manual_seed(seed)  # layer initialisation draws from the global generator
        self.window = window
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(1, hidden, window, padding=window // 2),
            torch.nn.ReLU(),
            torch.nn.Conv1d(hidden, hidden, 1),
            torch.nn.ReLU(),
            torch.nn.Conv1d(hidden, 1, 1),
        )
        self._seed = seed

    @staticmethod
    def _rows(decoded: np.ndarray) -> tuple[torch.Tensor, float]:
        d = np.asarray(decoded, dtype=np.float32)
        rows = d.reshape(d.shape[0], -1) if d.ndim >= 2 else d.reshape(1, -1)
        scale = float(rows.std()) or 1.0
        return torch.from_numpy(rows / scale).unsqueeze(1), scale

    def fit(
        self,
        decoded: Sequence[np.ndarray],
        original: Sequence[np.ndarray],
        *,
        epochs: int = 200,
        rows_per_batch: int = 256,
        lr: float = 3e-3,
    ) -> list[float]:
        """Train on pairs (decoded tensor, original tensor); returns the loss per epoch."""
        if len(decoded) != len(original) or not decoded:
            raise InvalidSettings("decoded/original: give the same, non-zero number of tensors")
        inputs, targets = [], []
        for d, o in zip(decoded, original, strict=True):
            if np.shape(d) != np.shape(o):
                raise InvalidSettings(f"original: shape {np.shape(o)} differs from {np.shape(d)}")
            rows, scale = self._rows(d)
            width = rows.shape[-1]
            residual = (np.asarray(o, np.float32) - np.asarray(d, np.float32)).reshape(
                -1, width
            ) / scale
            inputs.append(rows)
            targets.append(torch.from_numpy(residual).unsqueeze(1))
        gen = torch.Generator().manual_seed(self._seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        losses = []
        for _ in range(epochs):
            which = int(torch.randint(len(inputs), (1,), generator=gen))
            x, y = inputs[which], targets[which]
            pick = torch.randint(x.shape[0], (min(rows_per_batch, x.shape[0]),), generator=gen)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(self.net(x[pick]), y[pick])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    def correct(self, decoded: np.ndarray) -> np.ndarray:
        """``decoded`` plus the predicted residual, same shape and dtype."""
        d = np.asarray(decoded)
        rows, scale = self._rows(d)
        with torch.no_grad():
            residual = self.net(rows).squeeze(1).numpy() * scale
        return (d.astype(np.float32) + residual.reshape(d.shape)).astype(d.dtype)
