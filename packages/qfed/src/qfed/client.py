"""What one client does in a round, independent of how messages travel.

The Flower ``ClientApp`` and the in-process simulator both call :func:`client_profile` (what a
client says about itself) and :func:`client_round` (load the global tensors, train on the
client's own split, return the new tensors and the reply's metrics). Under sample-level DP the
guarantee holds against the server too:

* the DP-SGD noise and batch coins come from the CSPRNG, never from the run's seed;
* the client's :class:`~qfed.ledger.ClientLedger` (its own, persisted by the caller) accounts
  every release: the noisy label counts once, then every DP-SGD step; the sample rate and
  the expected batch size come from the released (noisy) size, not the exact one;
* the reply carries only :data:`REPLY_FIELDS` (every one accounted or public); the training
  loss, timings and exact sizes stay on the client;
* the client's :class:`~qfed.policy.ClientPolicy` refuses a server that asks for more epsilon,
  delta or rounds than the client pinned, or for the seeded test mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from qfed.errors import BudgetExhausted
from qfed.ledger import ClientLedger
from qfed.model import LoraModel
from qfed.policy import ClientPolicy
from qfed.privacy import ClientAccountant
from qfed.randomness import RandomSource, SecureRandom, SeededRandom
from qfed.task import FedConfig, FederatedTask
from qfed.training import TrainReport, train_local

log = logging.getLogger("qfed.client")

_MODELS: dict[tuple, tuple[LoraModel, dict[str, np.ndarray]]] = {}


def cached_model(task: FederatedTask, *, fresh: bool = False) -> LoraModel:
    """One model per process and setting: the frozen backbone is loaded once.

    Safe to reuse in a client round because every round starts by overwriting all trainable
    tensors with the server's, and nothing else in the model is trainable. ``fresh=True``
    puts the trainable tensors back at their seeded initialisation first: a new run (a new
    server) must not start from the tensors the previous run in this process left behind.
    """
    c = task.config
    key = (c.model, c.lora, c.seed, task.num_labels)
    if key not in _MODELS:
        _MODELS.clear()  # one setting at a time is all a client process runs
        model = task.build_model()
        _MODELS[key] = (model, model.trainable_state())
    model, initial = _MODELS[key]
    if fresh:
        model.load_trainable_state(initial)
    return model


#: Every field a client's training reply carries besides the model tensors, with why it may
#: leave the client. ``tests`` enumerate a real reply against this table (and the Flower app's
#: own); docs/qfed.md has the same list in its threat-model table.
REPLY_FIELDS: dict[str, str] = {
    "num_examples": (
        "dp=sample: the client's released noisy example count (Gaussian, accounted once in "
        "its ledger, reused); dp=client/none: the exact count, to a server trusted with it"
    ),
    "steps": "public: a function of the public noise plan and the ledger's public history",
    "epsilon": "public: the ledger's epsilon, a function of public noise settings",
    "epsilon_budget": "public: the target epsilon the server asked for and the client accepted",
    "budget_exhausted": "public: whether the ledger affords another step (public history)",
    "stopped_early": "public: whether the budget cut this round short (public history)",
    "noise_multiplier": "public: the planned DP-SGD noise (from public sizes and settings)",
    "not_private": "public: 1 when the seeded test mode made any draw of this client",
}

#: Every field of a client's profile (its answer before it is first selected).
PROFILE_FIELDS: dict[str, str] = {
    "num_examples": REPLY_FIELDS["num_examples"],
    "label_counts": (
        "dp=sample: the noisy label histogram (Gaussian, std count-noise, one accounted "
        "release, reused); withheld when the node sets share-label-counts=false; "
        "dp=client/none: exact, to a server trusted with it"
    ),
    "epsilon_spent": REPLY_FIELDS["epsilon"],
    "epsilon_budget": REPLY_FIELDS["epsilon_budget"],
    "not_private": REPLY_FIELDS["not_private"],
}


@dataclass(frozen=True)
class ClientRoundResult:
    state: dict[str, np.ndarray]
    report: TrainReport
    ledger: ClientLedger
    metrics: dict[str, float | int]


def seeded_source(config: FedConfig, client_id: int, round: int) -> RandomSource:
    """The client's randomness for a round: the CSPRNG, or the seeded test source."""
    if config.insecure_seeded_noise:
        return SeededRandom(np.random.default_rng([config.seed, 7, int(round), int(client_id)]))
    return SecureRandom()


def release_counts(
    task: FederatedTask,
    client_id: int,
    ledger: ClientLedger,
    policy: ClientPolicy,
    source: RandomSource,
) -> ClientLedger:
    """Release the client's size (and label histogram) once; later calls reuse the release.

    Under sample-level DP the release is the Gaussian mechanism on the label counts: adding
    or removing one example moves one count by 1 (L2 sensitivity 1), so std ``count_noise``
    is one step of noise multiplier ``count_noise`` at rate 1, composed in the ledger with the
    DP-SGD steps that follow. Without the histogram (``share_label_counts=False``) only the
    total is released, at the same cost. Under dp=client/none the exact values go to a server
    that those modes trust.
    """
    if ledger.total is not None:
        return ledger
    data = task.client_data(client_id)
    counts = np.asarray(data.label_counts(), dtype=np.float64)
    if task.config.dp != "sample":
        ledger.counts = counts.tolist() if policy.share_label_counts else None
        ledger.total = float(counts.sum())
        return ledger
    if policy.share_label_counts:
        noisy = counts + source.gaussian(counts.shape, policy.count_noise)
        ledger.counts = noisy.tolist()
        ledger.total = float(noisy.sum())
    else:
        ledger.counts = None
        ledger.total = float(counts.sum() + source.gaussian((1,), policy.count_noise)[0])
    ledger.history.append((float(policy.count_noise), 1.0, 1))
    ledger.seeded = ledger.seeded or not source.private
    return ledger


def client_profile(
    task: FederatedTask,
    client_id: int,
    *,
    ledger: ClientLedger | None = None,
    policy: ClientPolicy | None = None,
    source: RandomSource | None = None,
) -> dict[str, float | int | list[int]]:
    """What a client tells the server about itself before it is ever selected.

    Only released values (:data:`PROFILE_FIELDS`): under sample-level DP the noisy counts of
    :func:`release_counts`, which the ledger accounts, never the exact ones.
    """
    c = task.config
    policy = policy or trusting_policy(c)
    policy.check_request(dp=c.dp, epsilon=c.epsilon, delta=c.delta, seeded=c.insecure_seeded_noise)
    ledger = ledger if ledger is not None else ClientLedger()
    release_counts(task, client_id, ledger, policy, source or seeded_source(c, client_id, 0))
    profile: dict[str, float | int | list[int]] = {
        "num_examples": max(0, round(ledger.total or 0.0)),
        "epsilon_spent": ledger.epsilon(c.delta, c.accountant) if c.dp == "sample" else 0.0,
        "epsilon_budget": c.epsilon if c.dp == "sample" else math.inf,
        "not_private": int(ledger.seeded or c.dp == "none"),
    }
    if ledger.counts is not None:
        profile["label_counts"] = [max(0, round(v)) for v in ledger.counts]
    return profile


def trusting_policy(config: FedConfig, *, allow_seeded_noise: bool = False) -> ClientPolicy:
    """The policy of a client that accepts what its own run-config asks (a simulation)."""
    return ClientPolicy(
        max_epsilon=config.epsilon if 0 < config.epsilon < math.inf else 1.0,
        max_delta=config.delta,
        trust_server=config.dp != "sample",
        allow_seeded_noise=allow_seeded_noise,
    )


def plan_key(config: FedConfig) -> str:
    """Identifies a run's settings: a new key gets a new noise plan on the remaining budget."""
    text = json.dumps(config.as_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plan(
    task: FederatedTask, ledger: ClientLedger, policy: ClientPolicy
) -> ClientAccountant | None:
    """The client's accountant for this round: the run's plan over the ledger's history.

    The plan spends what is left of ``epsilon`` (the whole ledger counts, earlier runs and
    the count release included) over the rounds still planned; it is made once per run and
    kept in the ledger. ``None`` when nothing is left to spend.
    """
    c = task.config
    key = plan_key(c)
    size = ledger.public_size or 1
    if ledger.plan is None or ledger.plan.get("key") != key:
        rounds = c.planned_rounds or c.rounds
        if policy.max_rounds is not None:
            rounds = max(1, min(rounds, policy.max_rounds - ledger.rounds_trained))
        try:
            planned = ClientAccountant.for_target_epsilon(
                c.epsilon,
                c.delta,
                num_examples=size,
                batch_size=c.batch_size,
                epochs_per_round=c.local_epochs,
                rounds=rounds,
                mechanism=c.accountant,
                max_steps_per_round=c.max_steps_per_round,
                prior_history=ledger.history,
            )
        except BudgetExhausted:
            return None
        policy.check_noise(planned.noise_multiplier, epsilon=c.epsilon, rounds=rounds)
        ledger.plan = {
            "key": key,
            "noise_multiplier": planned.noise_multiplier,
            "sample_rate": planned.sample_rate,
            "public_size": size,
        }
    plan = ledger.plan
    return ClientAccountant(
        noise_multiplier=float(plan["noise_multiplier"]),
        sample_rate=float(plan["sample_rate"]),
        delta=c.delta,
        epsilon_budget=c.epsilon,
        mechanism=c.accountant,
        history=list(ledger.history),
    )


def client_round(
    task: FederatedTask,
    client_id: int,
    global_state: Mapping[str, np.ndarray],
    *,
    ledger: ClientLedger | None = None,
    policy: ClientPolicy | None = None,
    source: RandomSource | None = None,
    round: int = 0,
) -> ClientRoundResult:
    """Train one round on ``client_id``'s split, starting from ``global_state``.

    ``ledger`` is the client's privacy ledger (updated in place and returned; the caller
    persists it), ``policy`` the limits it pinned (default: exactly what the task asks, as
    for a client that trusts its run-config), ``source`` its randomness (default: the
    CSPRNG, or the seeded test source when the task asks for it and the policy allows it).
    ``round`` only seeds the test source and non-private randomness. The reply's metrics are
    :data:`REPLY_FIELDS` and nothing else.
    """
    c = task.config
    policy = policy or trusting_policy(c)
    ledger = ledger if ledger is not None else ClientLedger()
    policy.check_request(
        dp=c.dp,
        epsilon=c.epsilon,
        delta=c.delta,
        seeded=c.insecure_seeded_noise,
        rounds_trained=ledger.rounds_trained,
    )
    source = source or seeded_source(c, client_id, round)
    data = task.client_data(client_id)
    model = cached_model(task)
    model.load_trainable_state(global_state)
    accountant = None
    public_size = None
    if c.dp == "sample":
        release_counts(task, client_id, ledger, policy, source)
        public_size = ledger.public_size
        accountant = _plan(task, ledger, policy)
        if accountant is None:
            report = TrainReport(
                num_examples=0,
                steps=0,
                loss=float("nan"),
                seconds=0.0,
                epsilon=ledger.epsilon(c.delta, c.accountant),
                delta=c.delta,
                budget_exhausted=True,
                stopped_early=True,
            )
            return ClientRoundResult(
                model.trainable_state(), report, ledger, _metrics(c, ledger, report, None)
            )
    settings = c.train_settings
    if c.logit_adjust:
        prior = _label_prior(c, ledger, data.label_counts())
        if prior is not None:
            settings = replace(settings, class_prior=prior)
    report = train_local(
        model,
        data.texts,
        data.labels,
        settings,
        accountant=accountant,
        public_size=public_size,
        source=source,
        seed=c.seed * 1_000_003 + int(round) * 1009 + int(client_id),
    )
    if accountant is not None:
        ledger.history = list(accountant.history)
        ledger.seeded = ledger.seeded or (report.steps > 0 and not source.private)
    if report.steps > 0:
        ledger.rounds_trained += 1
    if math.isfinite(report.loss):
        # the training loss stays on the client: it is computed from raw per-example losses
        log.info("client %d: %d steps, local train loss %.4f", client_id, report.steps, report.loss)
    return ClientRoundResult(
        state=model.trainable_state(),
        report=report,
        ledger=ledger,
        metrics=_metrics(c, ledger, report, accountant),
    )


def _label_prior(
    config: FedConfig, ledger: ClientLedger, exact_counts: np.ndarray
) -> tuple[float, ...] | None:
    """The label prior a client may train against, or None when it has no public one.

    Under dp=sample only the released noisy histogram may shape the loss (the loss of one
    example must not depend on the others' labels); it is smoothed by +1 and floored at 1.
    Under dp=client/none the exact counts (the update as a whole is what is protected).
    """
    if config.dp == "sample":
        if ledger.counts is None:
            return None
        counts = np.asarray(ledger.counts, dtype=np.float64)
    else:
        counts = np.asarray(exact_counts, dtype=np.float64)
    return tuple(float(v) for v in np.maximum(counts, 0.0) + 1.0)


def _metrics(
    config: FedConfig,
    ledger: ClientLedger,
    report: TrainReport,
    accountant: ClientAccountant | None,
) -> dict[str, float | int]:
    sample = config.dp == "sample"
    metrics: dict[str, float | int] = {
        "num_examples": (max(0, round(ledger.total or 0.0)) if sample else report.num_examples)
        if report.steps > 0
        else 0,
        "steps": report.steps,
        "epsilon": ledger.epsilon(config.delta, config.accountant) if sample else 0.0,
        "epsilon_budget": config.epsilon if sample else math.inf,
        "budget_exhausted": int(report.budget_exhausted),
        "stopped_early": int(report.stopped_early),
        "not_private": int(ledger.seeded or config.dp == "none" or config.insecure_seeded_noise),
    }
    if accountant is not None:
        metrics["noise_multiplier"] = accountant.noise_multiplier
    assert set(metrics) <= set(REPLY_FIELDS), set(metrics) - set(REPLY_FIELDS)
    return metrics
