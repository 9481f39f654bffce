"""Picklable model factories for members (a worker process rebuilds the model from these)."""

from __future__ import annotations

from dataclasses import dataclass

from qensemble._checks import check_int
from qensemble.errors import InvalidParameter

__all__ = ["MLPFactory"]


@dataclass(frozen=True)
class MLPFactory:
    """``MLPFactory(64, 10, hidden=(32,))()`` builds a ReLU MLP ``64 -> 32 -> 10`` (logits out)."""

    in_features: int
    out_features: int
    hidden: tuple[int, ...] = (64,)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.in_features, "in_features", 1)
        check_int(self.out_features, "out_features", 2)
        if not isinstance(self.hidden, tuple):
            raise InvalidParameter(f"hidden: is {self.hidden!r}; pass a tuple of layer widths.")
        for width in self.hidden:
            check_int(width, "hidden", 1)
        if isinstance(self.dropout, bool) or not 0.0 <= float(self.dropout) < 1.0:
            raise InvalidParameter(f"dropout: is {self.dropout!r}; pass a number in [0, 1).")

    def __call__(self):  # -> torch.nn.Module (torch imported lazily: cheap import of qensemble)
        import torch.nn as nn

        layers: list[nn.Module] = []
        width = self.in_features
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if self.dropout:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, self.out_features))
        return nn.Sequential(*layers)
