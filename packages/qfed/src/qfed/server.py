"""The server's side of a federated DP-LoRA run, independent of how messages travel.

``FederatedServer`` keeps the global tensors, what it knows about each client (size, label
counts, epsilon spent, budget, last round time, how often selected), picks each round's
clients with :func:`qfed.selection.select_clients`, aggregates their replies (FedAvg, median
or trimmed mean; or client-level DP with server-side clipping and noise), evaluates on the
central test set, and checkpoints all of it. The Flower strategy and the in-process simulator
both drive it.

Privacy on the server's side:

* sample-level DP: the server only ever sees what clients release (noisy counts, DP-SGD
  updates, public numbers), so selection of any kind is post-processing;
* client-level DP: the server is the party that adds the noise, and it draws each round's
  clients by Poisson sampling (each available client independently with probability
  q = K/N) with coins from the CSPRNG, the sampling the accountant assumes; the noise comes
  from the CSPRNG too. Who was drawn stays with the operator (checkpoint, log):
  :meth:`public_history` is what a report may publish. QUBO or greedy selection reads client
  data and voids the client-level guarantee; ``FedConfig`` refuses it without an opt-in;
* ``insecure_seeded_noise`` (test mode) seeds all of that from the config: not private, and
  every history row says so.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from qfed.aggregation import aggregate
from qfed.client_dp import ClientLevelDP
from qfed.errors import InvalidConfig
from qfed.model import LoraModel
from qfed.randomness import RandomSource, SecureRandom, SeededRandom
from qfed.selection import ClientProfile, Selection, select_clients
from qfed.task import FederatedTask
from qfed.training import EvalReport, evaluate

log = logging.getLogger("qfed.server")


@dataclass
class ClientRecord:
    """The server's view of one client, updated from its replies."""

    num_examples: int = 0
    label_counts: list[int] = field(default_factory=list)
    epsilon_spent: float = 0.0
    epsilon_budget: float = math.inf
    round_time_s: float | None = None
    times_selected: int = 0
    last_selected: int = 0  # the round it was last picked for (0: never)
    failures: int = 0
    exhausted: bool = False

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["epsilon_budget"] = None if math.isinf(self.epsilon_budget) else self.epsilon_budget
        return out

    @classmethod
    def from_dict(cls, values: Mapping) -> ClientRecord:
        values = dict(values)
        if values.get("epsilon_budget") is None:
            values["epsilon_budget"] = math.inf
        return cls(**values)


@dataclass(frozen=True)
class ClientReply:
    """One client's answer to a training round."""

    client_id: int
    state: Mapping[str, np.ndarray]
    metrics: Mapping[str, float | int]


def payload_bytes(state: Mapping[str, np.ndarray]) -> int:
    """Bytes of the tensors that travel (what one direction of one client costs)."""
    return int(sum(np.asarray(v).nbytes for v in state.values()))


class FederatedServer:
    """Global tensors, client records, selection, aggregation, evaluation, checkpoints."""

    def __init__(self, task: FederatedTask, *, model: LoraModel | None = None) -> None:
        self.task = task
        c = task.config
        self.model = model or task.build_model()
        self.global_state: dict[str, np.ndarray] = self.model.trainable_state()
        self.round = 0
        self.clients: dict[int, ClientRecord] = {}
        self.history: list[dict] = []
        self.client_dp: ClientLevelDP | None = None
        # FedAvgM's momentum buffer of the averaged update (empty until the first round)
        self.velocity: dict[str, np.ndarray] = {}
        # the global tensors after each of the last ``average_last_rounds`` rounds, newest
        # last: the released model is their mean (see ``released_state``)
        self.recent_states: list[dict[str, np.ndarray]] = []
        # the server's own privacy randomness (client-level noise, Poisson client sampling)
        self.source: RandomSource = (
            SeededRandom(np.random.default_rng([c.seed, 7919]))
            if c.insecure_seeded_noise
            else SecureRandom()
        )
        if c.not_private_reasons:
            log.warning("NOT PRIVATE: %s", "; ".join(c.not_private_reasons))
        if c.dp == "client":
            self.client_dp = ClientLevelDP.for_target_epsilon(
                c.epsilon,
                c.delta,
                rounds=c.rounds,
                clients_per_round=c.clients_per_round,
                total_clients=c.num_clients,
                clip_norm=c.client_clip_norm,
                accountant=c.accountant,
                amplification=c.selection == "random",
            )

    # ------------------------------------------------------------------ clients

    def update_client(self, client_id: int, metrics: Mapping) -> None:
        """Fold a client's profile or training metrics into its record."""
        record = self.clients.setdefault(int(client_id), ClientRecord())
        if "label_counts" in metrics:
            record.label_counts = [int(v) for v in metrics["label_counts"]]
        if "epsilon" in metrics:
            record.epsilon_spent = float(metrics["epsilon"])
        elif "epsilon_spent" in metrics:
            record.epsilon_spent = float(metrics["epsilon_spent"])
        if "epsilon_budget" in metrics:
            budget = metrics["epsilon_budget"]  # JSON has no inf: None is "no budget"
            record.epsilon_budget = math.inf if budget is None else float(budget)
        if metrics.get("budget_exhausted"):
            record.exhausted = True
        if "num_examples" in metrics and (record.num_examples == 0 or "label_counts" in metrics):
            # a training reply of 0 examples means "skipped", not "has no data"
            record.num_examples = int(metrics["num_examples"])

    def record_failure(self, client_id: int) -> None:
        self.clients.setdefault(int(client_id), ClientRecord()).failures += 1

    def profiles(
        self, available: Iterable[int], *, round: int | None = None
    ) -> list[ClientProfile]:
        available = set(int(a) for a in available)
        rnd = self.round + 1 if round is None else round
        num_labels = self.task.num_labels
        out = []
        for cid, rec in sorted(self.clients.items()):
            counts = rec.label_counts or [1] * num_labels  # unknown labels: assume balanced
            budget = rec.epsilon_budget
            # a client in the seeded test mode reports epsilon inf (no guarantee holds), which
            # is not a spent budget: its own plan still stops it (``exhausted``) when the
            # accounted budget runs out. Without this, test mode excluded every client.
            accounted = 0.0 if math.isinf(rec.epsilon_spent) else rec.epsilon_spent
            spent = budget if rec.exhausted else min(accounted, budget)
            out.append(
                ClientProfile(
                    client_id=cid,
                    num_examples=rec.num_examples,
                    label_counts=np.asarray(counts, dtype=float),
                    epsilon_spent=spent,
                    epsilon_budget=budget,
                    available=cid in available,
                    round_time_s=rec.round_time_s,
                    times_selected=rec.times_selected,
                    rounds_waiting=max(0, rnd - 1 - rec.last_selected),
                )
            )
        return out

    def select(self, available: Iterable[int], *, round: int | None = None) -> Selection:
        """Pick this round's clients among ``available`` by the configured method."""
        available = [int(a) for a in available]
        for cid in available:
            self.clients.setdefault(cid, ClientRecord())
        c = self.task.config
        rnd = self.round + 1 if round is None else round
        if not available:
            raise InvalidConfig("no clients are available to select from")
        if self.client_dp is not None and c.selection == "random":
            return self._poisson_sample(available)
        k = min(c.clients_per_round, len(available))
        selection = select_clients(
            self.profiles(available, round=rnd),
            k,
            method=c.selection,
            seed=c.seed * 100_003 + rnd,
            time_limit=1.0,
        )
        for cid in selection.selected:
            self.clients[int(cid)].times_selected += 1
            self.clients[int(cid)].last_selected = rnd
        return selection

    def _poisson_sample(self, available: Sequence[int]) -> Selection:
        """Each available client joins independently with probability q (CSPRNG coins)."""
        start = time.perf_counter()
        assert self.client_dp is not None
        rate = self.client_dp.sample_rate
        ids = sorted(set(available))
        coins = self.source.bernoulli(len(ids), rate)
        chosen = [cid for cid, hit in zip(ids, coins, strict=True) if hit]
        for cid in chosen:
            self.clients[cid].times_selected += 1
            self.clients[cid].last_selected = self.round + 1
        return Selection(
            selected=chosen,
            method="poisson",
            objective=math.nan,
            solver=None,
            wall_s=time.perf_counter() - start,
            k=len(chosen),
            notes=[f"Poisson sampling of clients at q={rate:.4g} (client-level DP)"],
        )

    # ------------------------------------------------------------------ rounds

    def aggregate(
        self,
        replies: Sequence[ClientReply],
        *,
        aggregated_update: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """New global tensors from the replies that trained (zero-example replies skipped).

        ``aggregated_update``: the weighted mean of the updates, computed elsewhere (secure
        aggregation: the server never sees one client's tensors, and the replies carry only
        their metrics). Only FedAvg without server-side clipping can take it.
        """
        for reply in replies:
            self.update_client(reply.client_id, reply.metrics)
        trained = [r for r in replies if int(r.metrics.get("num_examples", 0)) > 0]
        states = [dict(r.state) for r in trained]
        c = self.task.config
        if aggregated_update is not None:
            if self.client_dp is not None or c.aggregation != "fedavg":
                raise InvalidConfig(
                    "a securely aggregated update needs aggregation='fedavg' and dp other "
                    "than 'client' (both need every update in clear)"
                )
            averaged = {
                k: np.asarray(v, np.float32) + np.asarray(aggregated_update[k], np.float32)
                for k, v in self.global_state.items()
            }
        elif self.client_dp is not None:
            # an empty round (nobody drawn, nobody replied) still releases its noise: the
            # accountant counts every round, and an unchanged model would give that away
            averaged = self.client_dp.aggregate(self.global_state, states, self.source)
        elif not trained:
            log.warning("round %d: no client trained; the global model is unchanged", self.round)
            return self.global_state
        else:
            weights = [float(r.metrics["num_examples"]) for r in trained]
            averaged = aggregate(
                states, weights, method=c.aggregation, trim_fraction=c.trim_fraction
            )
        self.global_state = self._server_step(averaged)
        return self.global_state

    def _server_step(self, averaged: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """FedAvgM: move by server_lr x (momentum buffer + this round's averaged update).

        Post-processing of the aggregate, so it costs no privacy under either DP mode.
        """
        c = self.task.config
        if c.server_momentum == 0 and c.server_lr == 1:
            return {k: np.asarray(v, dtype=np.float32) for k, v in averaged.items()}
        out = {}
        for name, value in averaged.items():
            old = self.global_state[name]
            update = np.asarray(value, dtype=np.float32) - old
            buffer = c.server_momentum * self.velocity.get(name, 0.0) + update
            self.velocity[name] = buffer.astype(np.float32)
            out[name] = (old + c.server_lr * buffer).astype(np.float32)
        return out

    def _remember_round(self) -> None:
        keep = self.task.config.average_last_rounds
        self.recent_states.append({k: v.copy() for k, v in self.global_state.items()})
        del self.recent_states[:-keep]

    def released_state(self) -> dict[str, np.ndarray]:
        """The model the run releases: the mean of the last ``average_last_rounds`` rounds'
        global tensors (all of them while fewer rounds have run; before the first round, the
        initial tensors).

        Averaging the tail of the trajectory (Polyak-Ruppert) damps what one label-skewed
        round does to the model. It is post-processing of models the server already holds,
        so it costs no privacy. LoRA factors are averaged as FedAvg averages them.
        """
        tail = self.recent_states[-self.task.config.average_last_rounds :]
        if len(tail) <= 1:
            return self.global_state
        return {
            name: np.mean([state[name] for state in tail], axis=0).astype(np.float32)
            for name in self.global_state
        }

    def released_rounds(self) -> list[int]:
        """The rounds whose models :meth:`released_state` averages."""
        count = min(len(self.recent_states), self.task.config.average_last_rounds)
        return list(range(self.round - count + 1, self.round + 1)) if count else []

    def evaluate(self) -> EvalReport:
        """Accuracy and loss of the released model on the central held-out test set."""
        test = self.task.test_data()
        self.model.load_trainable_state(self.released_state())
        c = self.task.config
        return evaluate(self.model, test.texts, test.labels, max_length=c.max_length)

    def epsilon_summary(self) -> dict[str, float]:
        """Privacy spent so far: per-client max/mean (sample-level) or the server's (client)."""
        if self.client_dp is not None:
            eps = self.client_dp.epsilon
            return {"epsilon_max": eps, "epsilon_mean": eps, "delta": self.task.config.delta}
        if self.task.config.dp == "none":
            return {"epsilon_max": math.inf, "epsilon_mean": math.inf, "delta": 0.0}
        spent = [r.epsilon_spent for r in self.clients.values()] or [0.0]
        return {
            "epsilon_max": float(max(spent)),
            "epsilon_mean": float(np.mean(spent)),
            "delta": self.task.config.delta,
        }

    def run_round(
        self,
        selection: Selection,
        replies: Sequence[ClientReply],
        *,
        failed: Sequence[int] = (),
        started: float | None = None,
        aggregated_update: Mapping[str, np.ndarray] | None = None,
    ) -> dict:
        """Aggregate, evaluate and record one round; returns the round's history row."""
        entered = time.perf_counter()
        self.round += 1
        for cid in failed:
            self.record_failure(cid)
        sent = payload_bytes(self.global_state) * len(selection.selected)
        if aggregated_update is not None and not any(
            int(r.metrics.get("num_examples", 0)) > 0 for r in replies
        ):
            aggregated_update = None  # nobody trained: nothing to add
        self.aggregate(replies, aggregated_update=aggregated_update)
        self._remember_round()
        evaluation_started = time.perf_counter()
        report = self.evaluate()
        evaluation_s = time.perf_counter() - evaluation_started
        received = sum(payload_bytes(r.state) for r in replies)
        spent = [int(r.client_id) for r in replies if r.metrics.get("budget_exhausted")]
        if spent:
            log.info("round %d: clients %s have spent their privacy budget", self.round, spent)
        row = {
            "round": self.round,
            "selected": [int(s) for s in selection.selected],
            "selection_objective": selection.objective,
            "replied": [int(r.client_id) for r in replies],
            "failed": [int(f) for f in failed],
            # clients whose budget is spent: they stop training and are not selected again
            "budget_exhausted": spent,
            "accuracy": report.accuracy,
            "loss": report.loss,
            # the rounds whose global models the evaluated (released) model averages
            "released_from_rounds": self.released_rounds(),
            "per_class_accuracy": list(report.per_class_accuracy),
            "train_examples": int(sum(int(r.metrics.get("num_examples", 0)) for r in replies)),
            "bytes_sent": sent,
            "bytes_received": received,
            "client_epsilon": {
                str(r.client_id): float(r.metrics.get("epsilon", 0.0)) for r in replies
            },
            **self.epsilon_summary(),
            "seconds": None if started is None else time.perf_counter() - started,
            # where the round's wall time went, as the server sees it: waiting for the
            # clients (their data loading, prefix caching and training: a client's own
            # timings are not released), selecting, and evaluating on the central test set
            "clients_s": None
            if started is None
            else max(0.0, entered - started - selection.wall_s),
            "selection_s": selection.wall_s,
            "evaluation_s": evaluation_s,
            "private": not self.task.config.not_private_reasons,
        }
        self.history.append(row)
        return row

    #: history keys a report may publish under client-level DP (who took part, and how many,
    #: would undo the amplification by sampling that the accountant counts on)
    PUBLIC_UNDER_CLIENT_DP = (
        "round",
        "accuracy",
        "released_from_rounds",
        "loss",
        "per_class_accuracy",
        "epsilon_max",
        "epsilon_mean",
        "delta",
        "seconds",
        "evaluation_s",
        "private",
    )

    def public_history(self) -> list[dict]:
        """The history rows as a report may publish them.

        Under client-level DP only :data:`PUBLIC_UNDER_CLIENT_DP` (the model's accuracy and the
        epsilon); the full rows (participants, bytes) are the operator's, in the checkpoint.
        Under sample-level DP every field is a function of what clients released.
        """
        if self.task.config.dp != "client":
            return [dict(r) for r in self.history]
        return [{k: r[k] for k in self.PUBLIC_UNDER_CLIENT_DP if k in r} for r in self.history]

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """JSON-able server state; the global tensors go separately (see ``global_state``)."""
        return {
            "round": self.round,
            "config": self.task.config.as_dict(),
            "clients": {str(k): v.as_dict() for k, v in self.clients.items()},
            "history": self.history,
            "client_dp": None if self.client_dp is None else self.client_dp.state_dict(),
            "velocity": {k: v.tolist() for k, v in self.velocity.items()},
            "recent_states": [
                {k: v.tolist() for k, v in state.items()} for state in self.recent_states
            ],
        }

    def load_state_dict(self, state: Mapping, global_state: Mapping[str, np.ndarray]) -> None:
        """Resume: tensors, round counter, client records, history and client-level DP."""
        self.model.load_trainable_state(global_state)  # validates names and shapes
        self.global_state = {k: np.asarray(v, dtype=np.float32) for k, v in global_state.items()}
        self.round = int(state["round"])
        self.clients = {int(k): ClientRecord.from_dict(v) for k, v in state["clients"].items()}
        self.history = list(state.get("history", []))
        if state.get("client_dp") is not None:
            self.client_dp = ClientLevelDP.from_state_dict(state["client_dp"])
        self.velocity = {
            k: np.asarray(v, dtype=np.float32) for k, v in state.get("velocity", {}).items()
        }
        self.recent_states = [
            {k: np.asarray(v, dtype=np.float32) for k, v in saved.items()}
            for saved in state.get("recent_states", [])
        ][-self.task.config.average_last_rounds :]
