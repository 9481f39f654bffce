"""Run the app without a SuperLink: ``run_simulation`` on Ray, or an in-process grid.

``simulate`` is what ``python -m qflower`` runs: Flower's Simulation Engine (Ray) with the
ServerApp and ClientApp of this package, ``num-clients`` virtual SuperNodes, one CPU per
client. ``LocalGrid`` is a Flower ``Grid`` that calls the ClientApp directly in this process,
one message after another, with a Context per node kept across rounds as Flower keeps it;
it is for tests and debugging (no Ray start-up, deterministic order), and a ClientApp error
becomes an error reply exactly as the Simulation Engine reports it.
"""

from __future__ import annotations

import copy
import os
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity
from qfed.errors import InvalidConfig
from qfed.policy import ClientPolicy

from qflower.config import parse_run_config
from qflower.quiet import quiet_flower

#: the error code Flower uses when a ClientApp raises
CLIENT_APP_RAISED_EXCEPTION = 5


class LocalGrid(Grid):
    """``num_nodes`` nodes running ``client_app`` in this process (node ids 1..N)."""

    def __init__(
        self,
        client_app: ClientApp,
        num_nodes: int,
        *,
        run_id: int = 1,
        node_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.client_app = client_app
        extra = dict(node_config or {})
        self.contexts = {
            node: Context(
                run_id=run_id,
                node_id=node,
                node_config={"partition-id": node - 1, "num-partitions": num_nodes, **extra},
                state=RecordDict(),
                run_config={},
            )
            for node in range(1, num_nodes + 1)
        }
        self.offline: set[int] = set()  # nodes that "disconnected" (tests)
        self._run = Run.create_empty(run_id=run_id)
        # Flower stamps every new Message with the running task's identity; the ServerApp
        # runtime sets it, so an in-process grid must set it as run_simulation does
        TaskIdentity.task_id = 1
        TaskIdentity.run_id = run_id
        TaskIdentity.node_id = 0  # the SuperLink's node id
        self.sent: list[Message] = []
        self.received: list[Message] = []  # every reply, as the server got it (tests)

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return [n for n in self.contexts if n not in self.offline]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError("LocalGrid only implements send_and_receive")

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError("LocalGrid only implements send_and_receive")

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        replies = []
        for message in messages:
            node = message.metadata.dst_node_id
            message.metadata.__dict__["_message_id"] = str(uuid4())
            message.metadata.__dict__["_run_id"] = self._run.run_id
            self.sent.append(message)
            if node in self.offline:
                continue  # a dropped node never answers; the server sees a missing reply
            try:
                # a copy, as the wire would deliver it: a client must not share (or mutate)
                # the server's objects, e.g. one ConfigRecord sent to several nodes
                reply = self.client_app(copy.deepcopy(message), self.contexts[node])
            except Exception as exc:
                reason = "".join(traceback.format_exception(exc)) or repr(exc)
                reply = Message(Error(CLIENT_APP_RAISED_EXCEPTION, reason), reply_to=message)
            replies.append(reply)
            self.received.append(reply)
        return replies


def simulate(
    overrides: Mapping[str, Any] | None = None,
    *,
    node_config: Mapping[str, Any] | None = None,
    num_cpus: int | None = None,
    cpus_per_client: float = 1.0,
    verbose: bool = False,
) -> None:
    """Run the app on Flower's Simulation Engine (Ray) with ``num-clients`` SuperNodes.

    Every simulated node gets ``node_config`` (its limits, see :data:`qflower.client_app.
    NODE_KEYS`); its privacy ledger lives in ``<output-dir>/client-ledgers`` unless
    ``node_config`` names a ``state-dir``: a simulated run stands for a new federation, so
    its simulated clients start with empty ledgers (a real node keeps one ledger for life).
    ``verbose`` shows Flower's and Ray's own log lines (default: the app's lines and
    warnings only, :mod:`qflower.quiet`).
    """
    from flwr.simulation import run_simulation

    from qflower.client_app import NODE_KEYS, build_client_app
    from qflower.server_app import build_server_app, output_dir

    config, app = parse_run_config({}, overrides)  # fail fast, before Ray starts
    nodes = dict(node_config or {})
    unknown = sorted(set(nodes) - set(NODE_KEYS))
    if unknown:
        raise InvalidConfig(f"unknown node-config key(s) {unknown}; known: {sorted(NODE_KEYS)}")
    out = output_dir(app)
    overrides = {**dict(overrides or {}), "output-dir": str(out)}
    if app.resume_from:
        # a resumed simulation continues the same simulated nodes, ledgers included
        resumed = Path(app.resume_from).expanduser()
        folder = resumed.parent if resumed.suffix == ".json" else resumed
        nodes.setdefault("state-dir", str(folder.resolve() / "client-ledgers"))
    nodes.setdefault("state-dir", str(out / "client-ledgers"))
    # one person runs both sides of a simulation: its nodes accept the run-config's dp mode
    nodes.setdefault("trust-server", config.dp != "sample")
    # bad limits, or a run the nodes would refuse, fail here and not in every Ray worker
    ClientPolicy.from_node_config(nodes).check_request(
        dp=config.dp,
        epsilon=config.epsilon,
        delta=config.delta,
        seeded=config.insecure_seeded_noise,
    )
    client_app = build_client_app(nodes)
    cpus = num_cpus or os.cpu_count() or 1
    init_args: dict[str, Any] = {"num_cpus": cpus, "include_dashboard": False}
    if not verbose:
        # Ray's own log level, and no copies of every actor's log lines in this terminal
        # (a client's error still reaches the server as an error reply and is reported)
        init_args.update(logging_level="WARNING", log_to_driver=False)
    backend_config = {
        "client_resources": {"num_cpus": cpus_per_client, "num_gpus": 0.0},
        "init_args": init_args,
    }
    quiet_flower(verbose)
    try:
        run_simulation(
            server_app=build_server_app(overrides),
            client_app=client_app,
            num_supernodes=config.num_clients,
            backend_config=backend_config,
            verbose_logging=verbose,
        )
    finally:
        import ray

        if ray.is_initialized():  # Flower stops its actors; make sure Ray itself goes too
            ray.shutdown()
