"""The limits a client pins for itself, whatever the server asks.

Under sample-level DP the server is one of the parties the guarantee protects against, so the
server cannot be the one that decides how much privacy a client spends. A client's
:class:`ClientPolicy` (in the Flower app: its ``node_config``) fixes the largest epsilon and
delta it will ever spend, the least noise it will train with, how many rounds it will train
in, whether it shares its (noisy) label histogram, whether it accepts the seeded test
mode, and whether it trusts the server with raw updates (dp='client' or 'none'; by default a
client trains only under sample-level DP, so a server cannot switch privacy off). A
request beyond any of them is refused with :class:`~qfed.errors.PolicyRefused`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qfed.errors import InvalidConfig, PolicyRefused

__all__ = ["NODE_CONFIG_KEYS", "ClientPolicy"]

#: node_config key -> (ClientPolicy field, what it means): the keys a client pins
NODE_CONFIG_KEYS: dict[str, tuple[str, str]] = {
    "max-epsilon": ("max_epsilon", "the most epsilon this node's data may ever spend"),
    "max-delta": ("max_delta", "the largest delta this node accepts"),
    "min-noise-multiplier": (
        "min_noise_multiplier",
        "the least DP-SGD noise multiplier this node trains with",
    ),
    "max-rounds": ("max_rounds", "the most rounds this node trains in (0: no limit)"),
    "share-label-counts": (
        "share_label_counts",
        "release a noisy label histogram (true) or only a noisy example count (false)",
    ),
    "count-noise": ("count_noise", "std of the Gaussian noise on released counts"),
    "allow-seeded-noise": (
        "allow_seeded_noise",
        "accept the seeded, NOT private test mode (tests and debugging only)",
    ),
    "trust-server": (
        "trust_server",
        "accept dp='client' or dp='none', which send raw updates to the server",
    ),
}


@dataclass(frozen=True)
class ClientPolicy:
    """What a client accepts. The defaults are the project's main job (epsilon 8, delta 1e-5)."""

    max_epsilon: float = 8.0
    max_delta: float = 1e-5
    min_noise_multiplier: float = 0.0
    max_rounds: int | None = None
    share_label_counts: bool = True
    count_noise: float = 10.0
    allow_seeded_noise: bool = False
    trust_server: bool = False

    def __post_init__(self) -> None:
        def number(name: str, value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidConfig(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InvalidConfig(f"{name} must be finite, got {value!r}")
            return float(value)

        if number("max-epsilon", self.max_epsilon) <= 0:
            raise InvalidConfig(f"max-epsilon must be > 0, got {self.max_epsilon!r}; e.g. 8.0")
        if not 0 < number("max-delta", self.max_delta) < 1:
            raise InvalidConfig(f"max-delta must be in (0, 1), got {self.max_delta!r}; e.g. 1e-5")
        if number("min-noise-multiplier", self.min_noise_multiplier) < 0:
            raise InvalidConfig(
                f"min-noise-multiplier must be >= 0, got {self.min_noise_multiplier!r}"
            )
        if number("count-noise", self.count_noise) <= 0:
            raise InvalidConfig(
                f"count-noise must be > 0 (the std of the noise on released counts), got "
                f"{self.count_noise!r}; e.g. 10.0"
            )
        if self.max_rounds is not None and (
            isinstance(self.max_rounds, bool)
            or not isinstance(self.max_rounds, int)
            or self.max_rounds < 1
        ):
            raise InvalidConfig(
                f"max-rounds must be an integer >= 1 (0 in node_config: no limit), "
                f"got {self.max_rounds!r}"
            )
        for name in ("share_label_counts", "allow_seeded_noise", "trust_server"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidConfig(
                    f"{name.replace('_', '-')} must be true or false, got {getattr(self, name)!r}"
                )

    @classmethod
    def from_node_config(cls, values: Mapping[str, Any]) -> ClientPolicy:
        """Read the policy keys of a Flower ``node_config`` (others are left to the caller)."""
        kwargs: dict[str, Any] = {}
        for key, (name, _) in NODE_CONFIG_KEYS.items():
            if key not in values:
                continue
            value = values[key]
            flags = ("share_label_counts", "allow_seeded_noise", "trust_server")
            if name in flags and isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise InvalidConfig(f"{key} must be true or false, got {value!r}")
                value = value.lower() == "true"
            if name == "max_rounds" and value in (0, "0", "none", ""):
                value = None
            numeric = ("max_epsilon", "max_delta", "min_noise_multiplier", "count_noise")
            if name in numeric and isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise InvalidConfig(f"{key} must be a number, got {value!r}") from None
            kwargs[name] = value
        return cls(**kwargs)

    def as_node_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (name, _) in NODE_CONFIG_KEYS.items():
            value = getattr(self, name)
            out[key] = 0 if name == "max_rounds" and value is None else value
        return out

    # ------------------------------------------------------------------ checks

    def check_request(
        self, *, dp: str, epsilon: float, delta: float, seeded: bool, rounds_trained: int = 0
    ) -> None:
        """Refuse a run whose privacy settings go beyond this policy."""
        if seeded and not self.allow_seeded_noise:
            raise PolicyRefused(
                "the server asks for seeded (reproducible, NOT private) noise; this node "
                "refuses it (node_config allow-seeded-noise=false). Run without "
                "insecure-seeded-noise, or set allow-seeded-noise=true on a test node"
            )
        if dp != "sample":
            if not self.trust_server:
                raise PolicyRefused(
                    f"the server asks for dp={dp!r}, which sends this node's raw updates to the "
                    "server; this node accepts only dp='sample' (node_config "
                    "trust-server=false). Run with dp='sample', or set trust-server=true on "
                    "nodes that trust this server"
                )
            return
        if epsilon > self.max_epsilon:
            raise PolicyRefused(
                f"the server asks for epsilon {epsilon:g}, above this node's limit "
                f"{self.max_epsilon:g} (node_config max-epsilon); ask for at most "
                f"{self.max_epsilon:g}"
            )
        if delta > self.max_delta:
            raise PolicyRefused(
                f"the server asks for delta {delta:g}, above this node's limit "
                f"{self.max_delta:g} (node_config max-delta); ask for at most {self.max_delta:g}"
            )
        if self.max_rounds is not None and rounds_trained >= self.max_rounds:
            raise PolicyRefused(
                f"this node has trained in {rounds_trained} rounds, its limit "
                f"(node_config max-rounds={self.max_rounds}); it trains no more"
            )

    def check_noise(self, noise_multiplier: float, *, epsilon: float, rounds: int) -> None:
        if noise_multiplier < self.min_noise_multiplier:
            raise PolicyRefused(
                f"epsilon {epsilon:g} over {rounds} planned rounds needs noise multiplier "
                f"{noise_multiplier:.4g}, below this node's minimum {self.min_noise_multiplier:g} "
                "(node_config min-noise-multiplier); ask for a smaller epsilon or more rounds"
            )
