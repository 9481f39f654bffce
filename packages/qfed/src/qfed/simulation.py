"""An in-process federated run: the same client and server logic as the Flower app, no network.

For benchmarks and quick experiments: rounds run sequentially in this process (clients one
after another), so a run is deterministic for its seed and its numbers compare cleanly across
settings. The Flower app (apps/flower) distributes exactly these calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from qfed.client import cached_model, client_profile, client_round
from qfed.server import ClientReply, FederatedServer
from qfed.task import FedConfig, FederatedTask


def simulate(
    config: FedConfig,
    *,
    progress: Callable[[str], None] | None = print,
) -> FederatedServer:
    """Run ``config.rounds`` rounds; returns the server (``.history`` has one row per round)."""
    task = FederatedTask(config)
    # one model in this process: every use (client round, server evaluation) loads the
    # tensors it needs first, so the server and the clients can share the loaded backbone
    server = FederatedServer(task, model=cached_model(task))
    for cid in range(config.num_clients):
        server.update_client(cid, client_profile(task, cid))
    accountants: dict[int, dict | None] = {}
    total = time.perf_counter()
    for rnd in range(1, config.rounds + 1):
        started = time.perf_counter()
        selection = server.select(range(config.num_clients), round=rnd)
        replies = []
        for cid in selection.selected:
            result = client_round(
                task,
                int(cid),
                server.global_state,
                accountant_state=accountants.get(int(cid)),
                seed=config.seed * 1_000_003 + rnd * 1009 + int(cid),
            )
            accountants[int(cid)] = result.accountant_state
            replies.append(ClientReply(int(cid), result.state, result.metrics))
        row = server.run_round(selection, replies, started=started)
        if progress is not None:
            spent = row["budget_exhausted"]
            progress(
                f"round {rnd}/{config.rounds}: clients {row['selected']} "
                + (f"(budget spent: {spent}) " if spent else "")
                + f"accuracy {row['accuracy']:.4f} loss {row['loss']:.4f} "
                f"epsilon max {row['epsilon_max']:.3g} ({row['seconds']:.1f} s, "
                f"{time.perf_counter() - total:.0f} s total)"
            )
    return server
