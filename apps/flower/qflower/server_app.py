"""The Flower ``ServerApp``: builds qfed's server, runs ``QFedStrategy``, reports the result.

``flwr run apps/flower`` loads ``app`` from here; :func:`build_server_app` makes one with
run-config overrides baked in (what ``python -m qflower`` and the tests use with
``flwr.simulation.run_simulation``, which in flwr 1.41 has no run-config argument).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from logging import INFO
from pathlib import Path
from typing import Any

import torch
from flwr.app import ConfigRecord, Context, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp
from qfed.errors import InvalidConfig
from qfed.server import FederatedServer
from qfed.task import FedConfig, FederatedTask

from qflower.client_app import state_to_arrays
from qflower.config import AppSettings, parse_run_config
from qflower.report import load_checkpoint
from qflower.strategy import QFedStrategy, guarantee_text

#: FedConfig fields that must equal the checkpoint's on resume (the split and the model)
_RESUME_FIXED = (
    "dataset",
    "text_column",
    "label_column",
    "partition",
    "alpha",
    "num_clients",
    "test_fraction",
    "max_examples_per_client",
    "max_test_examples",
    "model",
    "lora_rank",
    "lora_alpha",
    "lora_targets",
    "ffa",
    "dp",
    "seed",
)


def output_dir(app: AppSettings) -> Path:
    if app.output_dir:
        return Path(app.output_dir).expanduser().resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs", stamp).resolve()


def _check_resume(config: FedConfig, saved: Mapping[str, Any]) -> None:
    now = config.as_dict()
    differ = [k for k in _RESUME_FIXED if k in saved and saved[k] != now[k]]
    if differ:
        detail = ", ".join(f"{k}: {saved[k]!r} -> {now[k]!r}" for k in differ)
        raise InvalidConfig(
            f"resume-from: the checkpoint was made with other data/model settings ({detail}); "
            "use the run-config it was made with (its checkpoint.json 'server.config')"
        )


def run_server(
    grid: Grid,
    run_config: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    echo: Callable[[str], None] | None = None,
    context: Context | None = None,
) -> dict[str, Any]:
    """Run the whole federation on ``grid``; returns the run report (also written to disk).

    ``context`` (the ServerApp's) is needed by the secure-aggregation workflow only.
    """
    started = time.perf_counter()
    # opacus calls logging.basicConfig() on import, so every flwr line (flwr has its own
    # console handler) would print twice through the root logger
    logging.getLogger("flwr").propagate = False
    config, app = parse_run_config(run_config, overrides)
    say = echo or (lambda line: log(INFO, "%s", line))
    # the server evaluates while the clients wait, so it may use every core
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    task = FederatedTask(config)
    server = FederatedServer(task)
    if app.resume_from:
        state, tensors = load_checkpoint(app.resume_from)
        _check_resume(config, state["server"].get("config", {}))
        server.load_state_dict(state["server"], tensors)
        say(f"resumed from {app.resume_from} after round {server.round}")
    out_dir = output_dir(app)
    strategy = QFedStrategy(server, app, out_dir, echo=say)
    remaining = config.rounds - server.round
    say(
        f"qflower: {config.num_clients} clients, {config.clients_per_round} per round, "
        f"rounds {server.round + 1}..{config.rounds}, model={config.model}, dp={config.dp} "
        f"(epsilon {config.epsilon}, delta {config.delta}), selection={config.selection}, "
        f"aggregation={config.aggregation}; "
        f"output in {out_dir}"
    )
    say(f"guarantee: {guarantee_text(config)}")
    if remaining > 0 and app.secure_aggregation:
        from qflower.secure_aggregation import run_secure_rounds

        say("secure aggregation: Flower SecAgg+ (the server sees only each round's sum)")
        strategy.central_evaluate(0, None)
        run_secure_rounds(
            grid,
            context
            or Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}),
            strategy,
            rounds=remaining,
        )
    elif remaining > 0:
        strategy.start(
            grid=grid,
            initial_arrays=state_to_arrays(server.global_state),
            num_rounds=remaining,
            timeout=app.round_timeout,
            train_config=ConfigRecord(),
            evaluate_config=ConfigRecord(),
            evaluate_fn=strategy.central_evaluate,
        )
    else:
        say(f"nothing to do: the checkpoint already has {server.round} of {config.rounds} rounds")
    strategy.save()
    report = strategy.report()
    final = report["final"]
    eps = final.get("epsilon_max")
    eps_text = (
        "not private (dp=none)"
        if config.dp == "none"
        else (
            f"{eps:.3f} max / {final.get('epsilon_mean', 0.0):.3f} mean per client"
            if config.dp == "sample"
            else f"{eps:.3f} (client-level)"
        )
    )
    accuracy = final.get("accuracy")
    if config.not_private_reasons:
        eps_text += " (NOT PRIVATE: see the report's not_private_reasons)"
    say(
        f"final: round {final['round']}, accuracy "
        f"{'n/a' if accuracy is None else f'{accuracy:.3f}'}, epsilon {eps_text} at delta "
        f"{config.delta:g}; {time.perf_counter() - started:.0f} s; report {out_dir}/report.json"
    )
    timing = report.get("timing", {})
    if timing:
        say(
            "time: "
            f"clients {timing['clients_s']:.0f} s (data, prefix cache, training), "
            f"evaluation {timing['evaluation_s']:.0f} s, selection {timing['selection_s']:.1f} s, "
            f"start-up and the rest {timing['other_s']:.0f} s"
        )
    return report


def build_server_app(overrides: Mapping[str, Any] | None = None) -> ServerApp:
    """A ServerApp whose run-config is ``run_config`` updated with ``overrides``."""
    server_app = ServerApp()
    fixed = dict(overrides or {})

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        run_server(grid, dict(context.run_config), fixed, context=context)

    return server_app


app = build_server_app()
