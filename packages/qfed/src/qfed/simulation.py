"""An in-process federated run: the same client and server logic as the Flower app, no network.

For benchmarks and quick experiments: rounds run sequentially in this process (clients one
after another), so a run is deterministic for its seed and its numbers compare cleanly across
settings. The Flower app (apps/flower) distributes exactly these calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from qfed.client import cached_model, client_profile, client_round, trusting_policy
from qfed.ledger import ClientLedger
from qfed.policy import ClientPolicy
from qfed.server import ClientReply, FederatedServer
from qfed.task import FedConfig, FederatedTask


def simulate(
    config: FedConfig,
    *,
    progress: Callable[[str], None] | None = print,
    policy: ClientPolicy | None = None,
    task: FederatedTask | None = None,
    on_round: Callable[[FederatedServer, dict], None] | None = None,
) -> FederatedServer:
    """Run ``config.rounds`` rounds; returns the server (``.history`` has one row per round).

    Every client keeps its own :class:`~qfed.ledger.ClientLedger` (in memory here) and applies
    ``policy`` (default: it accepts exactly what ``config`` asks, including the seeded test
    mode when ``config`` sets it, since one person runs both sides of a simulation).
    ``task`` replaces the task built from ``config`` (e.g. one with another evaluation set).
    ``on_round(server, row)`` is called after each round (e.g. to keep each round's tensors).
    """
    task = task or FederatedTask(config)
    policy = policy or trusting_policy(config, allow_seeded_noise=config.insecure_seeded_noise)
    if progress is not None and config.not_private_reasons:
        progress("NOT PRIVATE: " + "; ".join(config.not_private_reasons))
    # one model in this process: every use (client round, server evaluation) loads the
    # tensors it needs first, so the server and the clients can share the loaded backbone
    server = FederatedServer(task, model=cached_model(task, fresh=True))
    ledgers = {cid: ClientLedger() for cid in range(config.num_clients)}
    for cid in range(config.num_clients):
        server.update_client(cid, client_profile(task, cid, ledger=ledgers[cid], policy=policy))
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
                ledger=ledgers[int(cid)],
                policy=policy,
                round=rnd,
            )
            replies.append(ClientReply(int(cid), result.state, result.metrics))
        row = server.run_round(selection, replies, started=started)
        if on_round is not None:
            on_round(server, row)
        if progress is not None:
            spent = row["budget_exhausted"]
            who = (
                f"{len(row['selected'])} clients (Poisson)"
                if config.dp == "client" and config.selection == "random"
                else f"clients {row['selected']}"
            )
            progress(
                f"round {rnd}/{config.rounds}: {who} "
                + (f"(budget spent: {spent}) " if spent else "")
                + f"accuracy {row['accuracy']:.4f} loss {row['loss']:.4f} "
                f"epsilon max {row['epsilon_max']:.3g} ({row['seconds']:.1f} s, "
                f"{time.perf_counter() - total:.0f} s total)"
            )
    return server
