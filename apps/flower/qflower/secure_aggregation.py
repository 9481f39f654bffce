"""Secure aggregation with Flower's SecAgg+ (``secure-aggregation = true``).

With SecAgg+ the server learns the weighted sum of the round's updates and nothing about any
one of them: each client masks its quantised update with pairwise masks (agreed with its
neighbours by Diffie-Hellman) and a private mask, and the masks cancel only in the sum;
Shamir shares of the mask seeds let the server remove the masks of clients that drop out
after sending, as long as ``secagg-threshold`` of each client's neighbours stay.

Why this mode runs on Flower's workflow API and not on :class:`qflower.strategy.QFedStrategy`:
in flwr 1.41 SecAgg+ exists only as ``flwr.server.workflow.SecAggPlusWorkflow``, which drives
a *legacy* ``flwr.server.strategy.Strategy`` (``configure_fit`` / ``aggregate_fit``) through a
``LegacyContext`` and ``DefaultWorkflow``; the Message-API strategies
(``flwr.serverapp.strategy``) have no secure-aggregation hook. So :class:`SecAggStrategy` is
a legacy strategy over the same :class:`qfed.server.FederatedServer` (selection, accounting,
evaluation, checkpoints, report), and the ClientApp wraps its train handler in
``secaggplus_mod`` for the protocol's messages only (:func:`secure_aggregation_mod`).

What travels: each client sends its *update* (new tensors minus the global ones), so that
the quantisation range ``secagg-clipping-range`` bounds a small number; an entry outside it
is an error on the client, never silently clipped. The weight is the released example count
(the same one FedAvg uses). The server adds the averaged update to the global tensors.
Composes with ``dp = "sample"`` (each update is DP-SGD; SecAgg+ hides it on top) and
``dp = "none"``; ``dp = "client"`` needs the server to clip each update, which SecAgg+ hides,
so that pair is refused (:func:`qflower.config.check_secure_aggregation`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from logging import WARNING
from typing import Any

import numpy as np
from flwr.app import Context, Message, MessageType
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import (
    Code,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    Parameters,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.logger import log
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy
from qfed.errors import InvalidConfig
from qfed.server import ClientReply

#: what the protocol's own messages carry (besides the train reply's public report)
SECAGG_RELEASED: dict[str, str] = {
    "secure.secaggplus_configs.pk1": "SecAgg+ setup: the client's Diffie-Hellman public key 1",
    "secure.secaggplus_configs.pk2": "SecAgg+ setup: the client's Diffie-Hellman public key 2",
    "secure.secaggplus_configs.dsts": "SecAgg+ share keys: which neighbour each ciphertext is for",
    "secure.secaggplus_configs.ctxts": (
        "Shamir shares of the client's mask seeds, each encrypted to one neighbour; the "
        "server relays them and cannot read them"
    ),
    "secure.secaggplus_configs.masked_params": (
        "the quantised update x weight plus pairwise and private masks: uniformly random to "
        "the server on its own; only the round's sum is recoverable"
    ),
    "secure.secaggplus_configs.nids": "SecAgg+ unmask: whose shares follow (neighbour ids)",
    "secure.secaggplus_configs.shares": (
        "shares of an active neighbour's private-mask seed or a dropped neighbour's key: "
        "what the protocol needs to remove masks from the sum, never both for one client"
    ),
    "secure.fitres.num_examples": (
        "the FedAvg weight: dp=sample the released noisy count (as train.metrics.num-examples)"
    ),
    "secure.fitres.parameters": "empty: secaggplus_mod clears the tensors before the reply leaves",
    "secure.fitres.status": "public: 'ok'",
}


def secure_aggregation_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """``secaggplus_mod`` for the SecAgg+ protocol's messages; everything else passes by."""
    if (
        msg.metadata.message_type == MessageType.TRAIN
        and RECORD_KEY_CONFIGS in msg.content.config_records
    ):
        from flwr.client.mod import secaggplus_mod

        return secaggplus_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


def is_legacy_fit(msg: Message) -> bool:
    """A train message of the SecAgg+ workflow (legacy FitIns records), not the Message API."""
    return "fitins.parameters" in msg.content.array_records


def update_to_send(
    new: Mapping[str, np.ndarray], old: Mapping[str, np.ndarray], clipping_range: float
) -> list[np.ndarray]:
    """The client's update (new - old) in the server's name order, checked against the range.

    SecAgg+ quantises every entry into [-clipping_range, clipping_range]; an entry outside
    would be clipped without a trace, so it is an error here instead.
    """
    names = sorted(old)
    if sorted(new) != names:
        raise InvalidConfig("secure aggregation: the trained tensors do not match the server's")
    update = [np.asarray(new[n], np.float64) - np.asarray(old[n], np.float64) for n in names]
    largest = max((float(np.abs(u).max()) for u in update if u.size), default=0.0)
    if not math.isfinite(largest) or largest > clipping_range:
        raise InvalidConfig(
            f"secure aggregation: an update entry of {largest:.4g} is outside "
            f"secagg-clipping-range={clipping_range:g}; raise secagg-clipping-range (costs "
            "quantisation precision) or lower learning-rate"
        )
    return update


def global_from_parameters(parameters: Parameters, names: Sequence[str]) -> dict[str, np.ndarray]:
    arrays = parameters_to_ndarrays(parameters)
    if len(arrays) != len(names):
        raise InvalidConfig(
            f"secure aggregation: {len(arrays)} tensors arrived for {len(names)} names"
        )
    return {n: np.asarray(a, dtype=np.float32) for n, a in zip(names, arrays, strict=True)}


class SecAggStrategy(Strategy):
    """A legacy Flower strategy over the app's :class:`~qflower.strategy.QFedStrategy`.

    ``base`` keeps doing what it does in the plain mode (discovery of nodes and their
    released profiles, selection through :class:`qfed.server.FederatedServer`, the report and
    the checkpoint); this class speaks the legacy strategy interface that
    ``SecAggPlusWorkflow`` calls, and applies the securely aggregated update.
    """

    def __init__(self, base: Any, grid: Any) -> None:
        self.base = base
        self.server = base.server
        self.grid = grid
        self.names = sorted(self.server.global_state)
        self._selection = None
        self._round_started = 0.0
        #: what aggregate_fit was handed each round (tests assert on it)
        self.received: list[list[tuple[int, list[np.ndarray], dict]]] = []

    def __repr__(self) -> str:
        return "SecAggStrategy(SecAgg+ over qfed)"

    def parameters(self) -> Parameters:
        return ndarrays_to_parameters([self.server.global_state[n] for n in self.names])

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return self.parameters()

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        available = self.base.discover(self.grid)
        self._round_started = time.perf_counter()
        rnd = self.server.round + 1
        selection = self.server.select(available, round=rnd)
        self._selection = selection
        proxies = {int(p.node_id): p for p in client_manager.all().values()}
        config = {
            **dict(self.base.base_config().items()),
            "server-round": rnd,
            "secagg-clipping-range": self.base.app.secagg_clipping_range,
        }
        out = []
        for pid in selection.selected:
            node = self.base.node_of[int(pid)]
            if node not in proxies:
                log(WARNING, "round %d: node %d of partition %d is gone", rnd, node, pid)
                continue
            out.append((proxies[node], FitIns(self.parameters(), dict(config))))
        return out

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict]:
        replies, seen = [], []
        aggregated = None
        for _, fitres in results:
            report = json.loads(str(fitres.metrics["report"]))
            arrays = parameters_to_ndarrays(fitres.parameters)
            seen.append((int(report["partition_id"]), arrays, report))
            # every result carries the same tensors: the dequantised weighted mean
            aggregated = arrays
            replies.append(ClientReply(int(report["partition_id"]), {}, report))
        self.received.append(seen)
        selected = [int(s) for s in self._selection.selected] if self._selection else []
        replied = {r.client_id for r in replies}
        failed = [pid for pid in selected if pid not in replied]
        if aggregated is None or len(replies) < self.base.app.min_train_replies:
            log(WARNING, "round %d: too few secure replies; global model kept", server_round)
            replies, mean_update = [], None
        else:
            mean_update = dict(zip(self.names, aggregated, strict=True))
        row = self.server.run_round(
            self._selection,
            replies,
            failed=failed,
            started=self._round_started,
            aggregated_update=mean_update,
        )
        row["secure_aggregation"] = True
        # the masked vectors travel as int64, one per tensor entry (plus the weight factor)
        entries = sum(int(np.asarray(v).size) for v in self.server.global_state.values())
        row["bytes_received"] = len(replies) * (entries + 1) * 8
        self.base.save()
        self.base.announce(row, suffix=" | SecAgg+")
        return self.parameters(), {"replies": len(replies), "failures": len(failed)}

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        return []  # private runs evaluate on the server's central test set only

    def aggregate_evaluate(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, EvaluateRes]],
        failures: list[tuple[ClientProxy, EvaluateRes] | BaseException],
    ) -> tuple[float | None, dict]:
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict] | None:
        if not self.server.history:
            if self.base.initial is None:
                return None
            return float(self.base.initial["loss"]), {"accuracy": self.base.initial["accuracy"]}
        last = self.server.history[-1]
        return float(last["loss"]), {"accuracy": float(last["accuracy"])}


def run_secure_rounds(
    grid: Any,
    context: Context,
    base: Any,
    *,
    rounds: int,
) -> SecAggStrategy:
    """Run ``rounds`` rounds with SecAgg+ (Flower's workflow API) over ``base``'s server."""
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    app = base.app
    base.discover(grid)  # the released profiles fix the largest weight the protocol needs
    sizes = [rec.num_examples for rec in base.server.clients.values()] or [1]
    strategy = SecAggStrategy(base, grid)
    legacy = LegacyContext(
        context,
        config=ServerConfig(num_rounds=rounds, round_timeout=app.round_timeout),
        strategy=strategy,
    )
    workflow = DefaultWorkflow(
        fit_workflow=SecAggPlusWorkflow(
            num_shares=app.secagg_shares,
            reconstruction_threshold=app.secagg_threshold,
            # the weight is the released count; the protocol needs a bound on it
            max_weight=float(max(sizes)) * 2 + 10,
            clipping_range=app.secagg_clipping_range,
            timeout=app.round_timeout,
        )
    )
    workflow(grid, legacy)
    return strategy


def check_weight(context: Context, num_examples: int) -> None:
    """Refuse a weight above the protocol's ``max_weight``: it would overflow the masked sum."""
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_STATE

    state = context.state.config_records.get(RECORD_KEY_STATE)
    limit = None if state is None else state.get("max_weight")
    if limit is not None and num_examples > float(limit):
        raise InvalidConfig(
            f"secure aggregation: this client's weight {num_examples} exceeds the round's "
            f"max_weight {float(limit):g}, which would overflow the masked sum; restart the "
            "run so the server sizes max_weight from every client's released count"
        )


def fit_reply(
    msg: Message, state: list[np.ndarray], num_examples: int, report: Mapping[str, Any]
) -> Message:
    """The legacy FitRes reply ``secaggplus_mod`` masks (its tensors never leave in clear)."""
    fitres = FitRes(
        status=Status(code=Code.OK, message="ok"),
        parameters=ndarrays_to_parameters([np.asarray(a, dtype=np.float64) for a in state]),
        num_examples=int(num_examples),
        metrics={"report": json.dumps(dict(report))},
    )
    return Message(compat.fitres_to_recorddict(fitres, keep_input=False), reply_to=msg)


def fit_request(msg: Message) -> tuple[Parameters, dict]:
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    return fitins.parameters, dict(fitins.config)
