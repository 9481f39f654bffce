"""``QFedStrategy``: Flower's FedAvg driven by qfed's selection, aggregation and accounting.

The federated logic lives once, in :class:`qfed.server.FederatedServer`; this strategy only
moves it onto Flower's Message API:

* before the first round (and whenever a new node connects) it sends each node a ``query``
  message and learns its partition id, data size and label counts;
* ``configure_train`` picks the round's K clients with ``FederatedServer.select`` (QUBO,
  greedy or random over profiles built from the clients' reports: data size, label counts,
  epsilon spent and budget, availability, last round time) instead of FedAvg's uniform draw;
* ``aggregate_train`` hands the replies it got to ``FederatedServer.run_round`` (FedAvg,
  median or trimmed mean; client-level DP clips and noises on the server), which also
  evaluates the new global tensors on the central test set; failed or missing clients are
  recorded and the round goes on with the rest (Flower's accept-failures behaviour);
* after every round it prints a progress line and writes the report and a checkpoint.

Sample-level DP is accounted on each client, in the client's own ledger (a file beside the
node); the clients report the epsilon they spent, and the server never sends or stores
accountant state (a hostile server must not be able to hand a client a fresh budget).
Under client-level DP the participants of each round are the operator's secret: the report
carries only :meth:`qfed.server.FederatedServer.public_history`, and the progress line does
not name them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from qfed.errors import InvalidConfig
from qfed.server import ClientReply, FederatedServer
from qfed.task import FedConfig

from qflower.client_app import arrays_to_state, state_to_arrays
from qflower.config import AppSettings, config_to_json
from qflower.report import write_checkpoint, write_report


class NoClientsError(RuntimeError):
    """Not enough nodes connected, or none could tell the server its partition."""


class QFedStrategy(FedAvg):
    """FedAvg whose sampling, aggregation and bookkeeping are qfed's ``FederatedServer``."""

    def __init__(
        self,
        server: FederatedServer,
        app: AppSettings,
        out_dir: Path,
        *,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        fed = server.task.config
        super().__init__(
            fraction_train=fed.clients_per_round / fed.num_clients,
            fraction_evaluate=app.evaluate_clients / fed.num_clients,
            min_train_nodes=fed.clients_per_round,
            min_evaluate_nodes=app.evaluate_clients,
            min_available_nodes=app.min_available_nodes or fed.num_clients,
        )
        self.server = server
        self.app = app
        self.out_dir = out_dir
        self.task_json = config_to_json(fed)
        self.node_of: dict[int, int] = {}  # partition id -> node id
        self.partition_of: dict[int, int] = {}  # node id -> partition id
        self.initial: dict[str, float] | None = None
        self.initial_s = 0.0  # the first central evaluation (test data load, cache fill)
        self.started = time.perf_counter()
        self._echo = echo or (lambda line: log(INFO, "%s", line))
        self._selection = None
        self._round_started = 0.0
        self._failed_last: set[int] = set()

    # ------------------------------------------------------------------ messages

    def base_config(self) -> ConfigRecord:
        """What every message to a client carries: the task and the app's client knobs."""
        return ConfigRecord(
            {
                "task": self.task_json,
                "torch-threads": self.app.torch_threads,
                "fail-clients": ",".join(str(i) for i in self.app.fail_clients),
            }
        )

    def discover(self, grid: Grid) -> list[int]:
        """Map connected nodes to partitions (querying new ones); returns available ids.

        Waits up to ``round-timeout`` seconds for ``min_available_nodes`` nodes to connect.
        """
        deadline = time.monotonic() + self.app.round_timeout
        while True:
            connected = [int(n) for n in grid.get_node_ids()]
            unknown = [n for n in connected if n not in self.partition_of]
            if unknown:
                self._query(grid, unknown)
            mapped = [n for n in connected if n in self.partition_of]
            if len(mapped) >= self.min_available_nodes:
                return sorted(self.partition_of[n] for n in mapped)
            if time.monotonic() > deadline:
                raise NoClientsError(
                    f"only {len(mapped)} of the {self.min_available_nodes} nodes this run "
                    f"waits for are connected and answered after {self.app.round_timeout:.0f} s "
                    "(lower min-available-nodes, or start more SuperNodes)"
                )
            log(
                INFO,
                "waiting for nodes: %d of %d ready",
                len(mapped),
                self.min_available_nodes,
            )
            time.sleep(1.0)

    def _query(self, grid: Grid, nodes: list[int]) -> None:
        record = RecordDict({"config": self.base_config()})
        messages = [Message(record, node, MessageType.QUERY) for node in nodes]
        replies = list(grid.send_and_receive(messages, timeout=self.app.round_timeout))
        reasons = []
        for reply in replies:
            node = int(reply.metadata.src_node_id)
            if reply.has_error():
                reasons.append(str(reply.error.reason))
                log(WARNING, "node %d did not report its profile: %s", node, reply.error.reason)
                continue
            profile = json.loads(str(reply.content["profile"]["json"]))
            pid = int(profile.pop("partition_id"))
            if pid in self.node_of and self.node_of[pid] != node:
                log(WARNING, "partition %d now answers from node %d", pid, node)
                self.partition_of.pop(self.node_of[pid], None)
            self.node_of[pid] = node
            self.partition_of[node] = pid
            if profile.get("epsilon_budget") is None:
                profile["epsilon_budget"] = math.inf
            known = self.server.clients.get(pid)
            if known is not None and known.epsilon_spent > profile.get("epsilon_spent", 0.0):
                # a resumed run: the checkpoint knows more than a fresh node's context
                profile.pop("epsilon_spent", None)
            self.server.update_client(pid, profile)
        if reasons and not self.partition_of:
            # no node could even describe itself: a setup error, not a flaky client
            raise InvalidConfig(f"no client could join the run; first error: {reasons[0]}")

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Select this round's clients with qfed and send each the global tensors."""
        available = self.discover(grid)
        self._round_started = time.perf_counter()
        rnd = self.server.round + 1  # the run's round (continues after a resume)
        rested = [p for p in available if p not in self._failed_last]
        if len(rested) >= self.server.task.config.clients_per_round:
            # a client that just failed sits out one round, while enough others can train
            available = rested
        selection = self.server.select(available, round=rnd)
        self._selection = selection
        messages = []
        for pid in selection.selected:
            cfg = ConfigRecord(dict(config))
            cfg.update(self.base_config())
            cfg["server-round"] = rnd
            record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: cfg})
            messages.append(
                Message(record, self.node_of[int(pid)], MessageType.TRAIN, group_id=str(rnd))
            )
        if selection.excluded:
            log(INFO, "round %d: excluded %s", rnd, selection.excluded)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate the replies that arrived; evaluate, record, checkpoint, report."""
        valid, errors = self._check_and_log_replies(list(replies), is_train=True, validate=False)
        results = []
        for reply in valid:
            report = json.loads(str(reply.content["report"]["json"]))
            pid = int(report["partition_id"])
            results.append(
                ClientReply(
                    client_id=pid,
                    state=arrays_to_state(reply.content[self.arrayrecord_key]),
                    metrics=report,
                )
            )
        selected = [int(s) for s in self._selection.selected] if self._selection else []
        replied = {r.client_id for r in results}
        failed = [pid for pid in selected if pid not in replied]
        self._failed_last = set(failed)
        rnd = self.server.round + 1
        if len(results) < self.app.min_train_replies:
            log(
                WARNING,
                "round %d: %d replies, fewer than min-train-replies=%d; global model kept",
                rnd,
                len(results),
                self.app.min_train_replies,
            )
            results = []
        row = self.server.run_round(
            self._selection, results, failed=failed, started=self._round_started
        )
        row["errors"] = [str(m.error.reason).splitlines()[-1][:300] for m in errors]
        self.save()
        self.announce(row)
        metrics = MetricRecord(
            {
                "replies": len(results),
                "failures": len(failed),
                "central-accuracy": float(row["accuracy"]),
            }
        )
        return state_to_arrays(self.server.global_state), metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Federated evaluation on ``evaluate-clients`` nodes (off by default)."""
        if self.app.evaluate_clients == 0:
            return []
        config = ConfigRecord(dict(config))
        config.update(self.base_config())
        return super().configure_evaluate(server_round, arrays, config, grid)

    def central_evaluate(self, server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        """``evaluate_fn`` for ``start``: the central test set (computed in run_round)."""
        if server_round == 0:
            if self.server.history:  # resumed: the last round's numbers are current
                last = self.server.history[-1]
                return MetricRecord({"accuracy": last["accuracy"], "loss": last["loss"]})
            started = time.perf_counter()
            report = self.server.evaluate()
            self.initial_s = time.perf_counter() - started
            self.initial = {"accuracy": report.accuracy, "loss": report.loss}
            self._echo(
                f"round 0/{self.server.task.config.rounds}: initial accuracy "
                f"{report.accuracy:.3f} (loss {report.loss:.3f})"
            )
            return MetricRecord(dict(self.initial))
        last = self.server.history[-1]
        return MetricRecord({"accuracy": float(last["accuracy"]), "loss": float(last["loss"])})

    # ------------------------------------------------------------------ outputs

    def report(self) -> dict[str, Any]:
        fed = self.server.task.config
        rows = self.server.history
        last = rows[-1] if rows else {}
        out = {
            "title": (
                f"{fed.model} LoRA r={fed.lora_rank}{' FFA' if fed.ffa else ''}, "
                f"{fed.num_clients} clients ({fed.clients_per_round}/round, {fed.selection}), "
                f"dp={fed.dp} eps={fed.epsilon}"
            ),
            "config": fed.as_dict(),
            "app": {k: getattr(self.app, k) for k in self.app.__dataclass_fields__},
            "private": not fed.not_private_reasons,
            "not_private_reasons": fed.not_private_reasons,
            "guarantee": guarantee_text(fed),
            "initial": self.initial,
            "rounds": self.server.public_history(),
            "final": {
                "round": self.server.round,
                "accuracy": last.get("accuracy"),
                "loss": last.get("loss"),
                **self.server.epsilon_summary(),
            },
            "seconds": time.perf_counter() - self.started,
            "timing": self.timing(),
        }
        if fed.dp != "client":  # bytes count the participants, which client-level DP hides
            out["bytes_sent"] = sum(int(r.get("bytes_sent", 0)) for r in rows)
            out["bytes_received"] = sum(int(r.get("bytes_received", 0)) for r in rows)
        return out

    def announce(self, row: dict[str, Any], *, suffix: str = "") -> None:
        """The round's progress line (see :func:`progress_line`)."""
        self._echo(progress_line(row, self.server.task.config) + suffix)

    def timing(self) -> dict[str, float]:
        """The run's wall time split as the server sees it (seconds).

        ``clients_s``: waiting for clients (their data loading, frozen-prefix caching and
        training; a client's own split of that time is not released); ``evaluation_s``: the
        central test set, the first evaluation's data load and cache fill included;
        ``selection_s``; ``other_s``: start-up, node discovery (the clients' first data
        load), checkpoints and reports.
        """
        rows = self.server.history
        total = time.perf_counter() - self.started
        evaluation = self.initial_s + sum(float(r.get("evaluation_s") or 0.0) for r in rows)
        selection = sum(float(r.get("selection_s") or 0.0) for r in rows)
        clients = sum(float(r.get("clients_s") or 0.0) for r in rows)
        return {
            "total_s": total,
            "clients_s": clients,
            "evaluation_s": evaluation,
            "selection_s": selection,
            "other_s": max(0.0, total - clients - evaluation - selection),
        }

    def save(self) -> None:
        """Write the checkpoint and the report for the rounds done so far."""
        state = {"round": self.server.round, "server": self.server.state_dict()}
        write_checkpoint(
            self.out_dir, self.server.global_state, state, released=self.server.released_state()
        )
        write_report(self.out_dir, self.report())


def guarantee_text(fed: FedConfig) -> str:
    """One sentence: what this run's epsilon protects, and against whom."""
    if fed.not_private_reasons:
        return "NOT PRIVATE: " + "; ".join(fed.not_private_reasons)
    if fed.dp == "sample":
        return (
            f"sample-level ({fed.epsilon:g}, {fed.delta:g})-DP per client over everything the "
            "client released (noisy counts and every DP-SGD step), against the server, other "
            "clients and anyone with the model or this report; add/remove one example"
        )
    return (
        f"client-level ({fed.epsilon:g}, {fed.delta:g})-DP of the released model and this "
        "report, with Poisson sampling of clients; add/remove one client; the server itself "
        "is trusted (it sees raw updates)"
    )


def progress_line(row: dict[str, Any], fed: FedConfig) -> str:
    """One line per round: round, clients, accuracy, epsilon, bytes, seconds."""
    eps = row.get("epsilon_max")
    eps_text = "n/a" if eps is None or not math.isfinite(eps) else f"{eps:.2f}"
    seconds = row.get("seconds") or 0.0
    if fed.dp == "client":
        who = "participants kept secret (client-level DP)"
    else:
        who = f"clients {row['selected']}"
        if row.get("failed"):
            who += f" failed {row['failed']}"
        if row.get("budget_exhausted"):
            who += f" budget spent {row['budget_exhausted']}"
        who += f" | {(row['bytes_sent'] + row['bytes_received']) / 1e6:.2f} MB"
    flag = "" if row.get("private", True) else " | NOT PRIVATE"
    return (
        f"round {row['round']}/{fed.rounds}: {who} | "
        f"accuracy {row['accuracy']:.3f} loss {row['loss']:.3f} | "
        f"epsilon max {eps_text} mean {_fmt(row.get('epsilon_mean'))} | {seconds:.1f} s{flag}"
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"
