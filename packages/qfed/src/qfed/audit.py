"""Empirical privacy auditing in one training run.

Steinke, Nasr, Jagielski, "Privacy Auditing with One (1) Training Run" (NeurIPS 2023).
``m`` canaries are each included in the training set independently with probability 1/2.
After one training run, every canary gets a score (higher = more likely it was included); the
auditor guesses "in" for the ``k_plus`` highest scores and "out" for the ``k_minus`` lowest and
abstains on the rest. Under (eps, delta)-DP the number of correct guesses W among the
r = k_plus + k_minus guesses is stochastically dominated, up to a delta term, by
Binomial(r, e^eps / (1 + e^eps)) (their Theorem 3.1 / Proposition 5.2):

    P[W >= v] <= f(v) + 2 m delta * max_{1 <= i <= v} (f(v - i) - f(v)) / i,
    f(v) = P[Binomial(r, e^eps/(1+e^eps)) >= v].

:func:`epsilon_lower_bound` returns the largest eps whose p-value for the observed v is still
below ``1 - confidence``: every eps below it is rejected, so with probability ``confidence``
the mechanism is not (eps, delta)-DP for any eps below the bound (the paper's Algorithm 2,
bisection over eps with scipy's binomial tail).

What this is and is not:

* A *lower* bound: it can show that an implementation leaks more than it claims (a bug, a
  wrong accountant) but never certifies privacy. The accountant's epsilon is the guarantee.
* One run with m canaries cannot reach a large bound even for a non-private mechanism: with
  r guesses all correct at 95% confidence, eps <= about ln(r / ln(20)) (about 4.2 for r = 200).
* k_plus and k_minus must be fixed before looking at the scores; picking the best k after the
  fact is a multiple comparison that voids the stated confidence.

:func:`audit_dp_sgd` runs a concrete audit of Opacus DP-SGD (Poisson sampling,
``grad_sample_mode="hooks"``, flat clipping, the mechanism qfed's clients use) on a softmax
regression over scikit-learn's digits plus "Dirac" canaries: canary i is the input that is
zero everywhere except ``canary_scale`` at its own coordinate, with a random label. Only that
canary ever produces gradient on its coordinate, so its weight column holds its own signal plus
the DP noise and nothing else: the most leaky canary design for this model, which makes the
audit as tight as a one-run audit of this mechanism gets while still using the real training
loop. The optimiser is plain SGD without momentum or weight decay.

Two audits run on the federated path itself (each returns a :class:`FederatedAuditResult`):

* :func:`audit_client_training` (sample-level DP): one client's real rows plus ``m`` canary
  records (random WordPiece words with random labels), each included with probability 1/2, are
  trained on by the real :func:`qfed.training.train_local` (Poisson DP-SGD, Opacus per-sample
  clipping, noise from a :class:`~qfed.randomness.RandomSource`). Each canary is scored
  white-box from the client's update alone.
* :func:`audit_client_level` (client-level DP, after Andrew et al., "One-shot empirical
  privacy estimation for federated learning", ICLR 2024): ``m`` canary clients, each in the
  population with probability 1/2, send ``global + C u_i`` whenever Poisson sampling picks
  them, real clients send real or simulated updates, and :meth:`ClientLevelDP.aggregate`
  runs every round. Canary i is scored by the cosine of the total model change with u_i.

Both turn the scores into a bound with :func:`one_run_audit`, and both come with a positive
control (``noise_multiplier=0``) that must find leakage; a bound above the accounted epsilon
would point at a bug in the mechanism or in its accounting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import stats

from qfed.errors import InvalidConfig

if TYPE_CHECKING:
    from qfed.model import LoraModel
    from qfed.randomness import RandomSource
    from qfed.task import FederatedTask

__all__ = [
    "AuditResult",
    "DPSGDAuditResult",
    "FederatedAuditResult",
    "audit_client_level",
    "audit_client_training",
    "audit_dp_sgd",
    "epsilon_lower_bound",
    "one_run_audit",
    "p_value",
]


# ---------------------------------------------------------------------------- the bound


def _check_counts(num_guesses: int, num_correct: int, num_canaries: int) -> None:
    for name, value in (
        ("num_guesses", num_guesses),
        ("num_correct", num_correct),
        ("num_canaries", num_canaries),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise InvalidConfig(f"{name} must be an integer >= 0, got {value!r}")
    if not 0 <= num_correct <= num_guesses <= num_canaries:
        raise InvalidConfig(
            "need 0 <= num_correct <= num_guesses <= num_canaries, got "
            f"num_correct={num_correct}, num_guesses={num_guesses}, "
            f"num_canaries={num_canaries}; count only the canaries guessed on"
        )


def _check_delta_confidence(delta: float, confidence: float) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 <= delta < 1:
        raise InvalidConfig(f"delta must be in [0, 1), got {delta!r}; e.g. 1e-5")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0 < confidence < 1
    ):
        raise InvalidConfig(f"confidence must be in (0, 1), got {confidence!r}; e.g. 0.95")


def p_value(
    num_guesses: int, num_correct: int, num_canaries: int, epsilon: float, delta: float
) -> float:
    """Upper bound on P[at least ``num_correct`` right] under an (epsilon, delta)-DP mechanism.

    Steinke et al.'s Theorem 3.1 with the delta term as in their Algorithm 2:
    f(v) + 2 m delta max_i (f(v-i) - f(v)) / i, capped at 1.
    """
    _check_counts(num_guesses, num_correct, num_canaries)
    r, v, m = int(num_guesses), int(num_correct), int(num_canaries)
    if v == 0:
        return 1.0
    # accuracy of eps-DP randomised response; expit keeps it exact for large eps
    q = float(1.0 / (1.0 + math.exp(-epsilon))) if epsilon < 700 else 1.0
    tail = float(stats.binom.sf(v - 1, r, q))  # f(v) = P[Binomial(r, q) >= v]
    if delta == 0:
        return min(tail, 1.0)
    # f(v - i) - f(v) = P[v - i <= Binomial < v] = sum_{j=1..i} pmf(v - j)
    pmf = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)
    alpha = float(np.max(np.cumsum(pmf) / np.arange(1, v + 1)))
    return min(tail + 2.0 * m * delta * alpha, 1.0)


def epsilon_lower_bound(
    num_guesses: int,
    num_correct: int,
    num_canaries: int,
    delta: float,
    confidence: float = 0.95,
) -> float:
    """Largest eps rejected at level ``1 - confidence`` by the one-run audit.

    With probability at least ``confidence`` over the canaries' inclusion coins, the audited
    mechanism is not (eps', delta)-DP for any eps' below the returned value. 0.0 means the
    observation is consistent with perfect privacy (eps = 0).
    """
    _check_counts(num_guesses, num_correct, num_canaries)
    _check_delta_confidence(delta, confidence)
    level = 1.0 - confidence

    def rejected(eps: float) -> bool:
        return p_value(num_guesses, num_correct, num_canaries, eps, delta) < level

    if not rejected(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while rejected(hi):
        lo, hi = hi, 2.0 * hi
        if hi > 1e3:  # p-value -> 1 as eps grows whenever delta>0 or v<=r; a safety stop
            return lo
    for _ in range(50):  # bisection to ~1e-15 relative; p-value is monotone in eps
        mid = 0.5 * (lo + hi)
        if rejected(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class AuditResult:
    """Outcome of a one-run audit.

    ``epsilon_lower_bound`` is the audited bound; ``guesses`` = k_plus + k_minus, ``correct``
    how many of them were right, ``precision`` = correct / guesses (0.5 is chance).
    """

    epsilon_lower_bound: float
    guesses: int
    correct: int
    precision: float
    num_canaries: int
    k_plus: int
    k_minus: int
    delta: float
    confidence: float


def one_run_audit(
    scores: np.ndarray,
    included: np.ndarray,
    *,
    k_plus: int,
    k_minus: int,
    delta: float,
    confidence: float = 0.95,
) -> AuditResult:
    """Guess "in" for the ``k_plus`` top scores and "out" for the ``k_minus`` bottom ones.

    ``scores[i]`` is higher when canary i looks included; ``included[i]`` is the truth (the
    coin flipped before training). Ties are broken by canary index (a stable sort), which is
    independent of the inclusion coins, so the theorem's conditions still hold.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    inc = np.asarray(included).ravel()
    if s.shape != inc.shape:
        raise InvalidConfig(
            f"scores has {s.size} entries and included {inc.size}; give one of each per canary"
        )
    if not np.all(np.isfinite(s)):
        raise InvalidConfig("scores has NaN or inf; score every canary with a finite number")
    if inc.dtype != np.bool_:
        if not np.isin(inc, (0, 1)).all():
            raise InvalidConfig("included must be booleans (or 0/1), one per canary")
        inc = inc.astype(bool)
    m = s.size
    for name, k in (("k_plus", k_plus), ("k_minus", k_minus)):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise InvalidConfig(f"{name} must be an integer >= 0, got {k!r}")
    if k_plus + k_minus > m:
        raise InvalidConfig(
            f"k_plus + k_minus = {k_plus + k_minus} exceeds the {m} canaries; guess on fewer"
        )
    order = np.argsort(-s, kind="stable")  # descending score; stable on ties
    top = order[:k_plus]
    bottom = order[m - k_minus :] if k_minus else order[:0]
    correct = int(inc[top].sum() + (~inc[bottom]).sum())
    guesses = int(k_plus + k_minus)
    bound = epsilon_lower_bound(guesses, correct, m, delta, confidence)
    return AuditResult(
        epsilon_lower_bound=bound,
        guesses=guesses,
        correct=correct,
        precision=correct / guesses if guesses else float("nan"),
        num_canaries=m,
        k_plus=int(k_plus),
        k_minus=int(k_minus),
        delta=float(delta),
        confidence=float(confidence),
    )


# ---------------------------------------------------------------------------- DP-SGD audit


@dataclass(frozen=True)
class DPSGDAuditResult:
    """An audit of one DP-SGD run next to what the accountant claims for it."""

    audit: AuditResult
    accounted_epsilon: float  # Opacus RDP over all steps; inf when noise_multiplier == 0
    delta: float
    noise_multiplier: float
    max_grad_norm: float | None
    steps: int
    sample_rate: float
    train_accuracy: float  # on the regular (non-canary) examples
    seconds: float


def audit_dp_sgd(
    *,
    num_canaries: int = 1000,
    num_regular: int = 1000,
    noise_multiplier: float,
    max_grad_norm: float | None = 1.0,
    epochs: int = 10,
    batch_size: int = 200,
    learning_rate: float = 2.0,
    canary_scale: float = 1.0,
    score: Literal["weight", "loss"] = "weight",
    delta: float = 1e-5,
    k_plus: int | None = None,
    k_minus: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    num_threads: int | None = 1,
) -> DPSGDAuditResult:
    """Audit Opacus DP-SGD in one run with Dirac canaries and return the bound and the claim.

    Args:
        num_canaries: m; each is included with probability 1/2 (seeded).
        num_regular: regular examples from scikit-learn's digits (at most 1797).
        noise_multiplier: Opacus sigma; 0 trains without noise (the positive control).
        max_grad_norm: per-sample clipping bound C. ``None`` means no clipping, allowed only
            with ``noise_multiplier == 0`` (a huge C is used, since Opacus always clips).
        epochs, batch_size, learning_rate: plain SGD; batch_size is the *expected* Poisson
            batch, so the sampling rate is batch_size / (training set size).
        canary_scale: the value of a canary's one non-zero input.
        score: ``"weight"`` (white-box: the canary's weight column projected on its label's
            direction, the statistic its own gradient moves) or ``"loss"`` (black-box: the
            decrease of the canary's cross-entropy from the zero initialisation).
        delta: the delta of both the accountant and the audit.
        k_plus, k_minus: guesses "in" / "out"; default ``num_canaries // 10`` each, fixed
            before training as the method requires.
        confidence: of the audited bound.
        seed: seeds the data split, the canary labels and coins, Poisson sampling and noise.
        num_threads: torch threads during the run (restored afterwards); None leaves it.

    Returns:
        the audit, the accounted epsilon (Opacus RDP accountant over all steps taken), and
        the run's details.
    """
    import torch
    from opacus import PrivacyEngine
    from sklearn.datasets import load_digits
    from torch.utils.data import DataLoader, TensorDataset

    from qfed.privacy import epsilon_of, quiet_opacus

    if isinstance(num_canaries, bool) or not isinstance(num_canaries, int) or num_canaries < 2:
        raise InvalidConfig(f"num_canaries must be an integer >= 2, got {num_canaries!r}")
    if not isinstance(num_regular, int) or not 1 <= num_regular <= 1797:
        raise InvalidConfig(
            f"num_regular must be in [1, 1797] (the size of sklearn digits), got {num_regular!r}"
        )
    if not isinstance(noise_multiplier, int | float) or not noise_multiplier >= 0:
        raise InvalidConfig(f"noise_multiplier must be >= 0, got {noise_multiplier!r}")
    if max_grad_norm is None:
        if noise_multiplier != 0:
            raise InvalidConfig(
                "max_grad_norm=None (no clipping) needs noise_multiplier=0: DP noise is scaled "
                "by the clipping bound; pass a finite max_grad_norm such as 1.0"
            )
        # Opacus always clips, and noise std is sigma*C (0 here); this C never binds.
        clip = 1e6
    else:
        if not isinstance(max_grad_norm, int | float) or not 0 < max_grad_norm < math.inf:
            raise InvalidConfig(f"max_grad_norm must be a finite number > 0, got {max_grad_norm!r}")
        clip = float(max_grad_norm)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidConfig(f"{name} must be an integer >= 1, got {value!r}")
    if not learning_rate > 0 or not canary_scale > 0:
        raise InvalidConfig(
            f"learning_rate and canary_scale must be > 0, got {learning_rate!r}, {canary_scale!r}"
        )
    if score not in ("weight", "loss"):
        raise InvalidConfig(f"score must be 'weight' or 'loss', got {score!r}")
    _check_delta_confidence(delta, confidence)
    k_plus = num_canaries // 10 if k_plus is None else k_plus
    k_minus = num_canaries // 10 if k_minus is None else k_minus

    start = time.perf_counter()
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        rng = np.random.default_rng(seed)
        digits = load_digits()
        pick = rng.permutation(len(digits.target))[:num_regular]
        feats = digits.data[pick].astype(np.float64)
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-8)
        num_classes = 10
        n_feat = feats.shape[1] + 1  # + a constant 1 that plays the bias (model has none)
        dim = n_feat + num_canaries

        x_reg = np.zeros((num_regular, dim), dtype=np.float32)
        x_reg[:, : n_feat - 1] = feats
        x_reg[:, n_feat - 1] = 1.0
        y_reg = digits.target[pick].astype(np.int64)

        canary_labels = rng.integers(0, num_classes, size=num_canaries)
        included = rng.random(num_canaries) < 0.5
        x_can = np.zeros((num_canaries, dim), dtype=np.float32)
        x_can[np.arange(num_canaries), n_feat + np.arange(num_canaries)] = canary_scale

        x_train = np.concatenate([x_reg, x_can[included]])
        y_train = np.concatenate([y_reg, canary_labels[included]])
        dataset = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))

        linear = torch.nn.Linear(dim, num_classes, bias=False)
        with torch.no_grad():
            # zero start: an excluded canary's column then holds pure DP noise, and the score
            # needs no baseline
            linear.weight.zero_()
        optimizer = torch.optim.SGD(linear.parameters(), lr=learning_rate)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            generator=torch.Generator().manual_seed(seed + 1),
        )
        with quiet_opacus():
            engine = PrivacyEngine(accountant="rdp", secure_mode=False)
            model, optimizer, loader = engine.make_private(
                module=linear,
                optimizer=optimizer,
                data_loader=loader,
                noise_multiplier=float(noise_multiplier),
                max_grad_norm=clip,
                poisson_sampling=True,
                grad_sample_mode="hooks",
                noise_generator=torch.Generator().manual_seed(seed + 2),
            )
            loss_fn = torch.nn.CrossEntropyLoss()
            steps = 0
            for _ in range(epochs):
                for xb, yb in loader:
                    optimizer.zero_grad(set_to_none=True)
                    loss_fn(model(xb), yb).backward()
                    optimizer.step()
                    steps += 1
            sample_rate = 1.0 / len(loader)
            accounted = epsilon_of(engine.accountant.history, delta)

        weight = linear.weight.detach().double().numpy()
        columns = weight[:, n_feat:].T  # (num_canaries, classes)
        if score == "weight":
            # the canary's own gradient moves its column along e_y - p, i.e. up on the label
            # and down on the rest: project on the centred one-hot of the label
            scores = columns[np.arange(num_canaries), canary_labels] - columns.mean(axis=1)
        else:
            logits = canary_scale * columns
            logz = np.logaddexp.reduce(logits, axis=1)
            loss_after = logz - logits[np.arange(num_canaries), canary_labels]
            scores = math.log(num_classes) - loss_after  # zero init: every loss starts at ln 10
        train_pred = (x_reg.astype(np.float64) @ weight.T).argmax(axis=1)
        accuracy = float((train_pred == y_reg).mean())
    finally:
        if num_threads is not None:
            torch.set_num_threads(old_threads)

    result = one_run_audit(
        scores, included, k_plus=k_plus, k_minus=k_minus, delta=delta, confidence=confidence
    )
    return DPSGDAuditResult(
        audit=result,
        accounted_epsilon=float(accounted),
        delta=float(delta),
        noise_multiplier=float(noise_multiplier),
        max_grad_norm=None if max_grad_norm is None else float(max_grad_norm),
        steps=steps,
        sample_rate=sample_rate,
        train_accuracy=accuracy,
        seconds=time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------- federated audits


@dataclass(frozen=True)
class FederatedAuditResult:
    """One audit of the federated path next to what its accountant claims for the same run.

    ``level`` is ``"sample"`` (canary records in one client's DP-SGD,
    :func:`audit_client_training`) or ``"client"`` (canary clients in DP-FedAvg,
    :func:`audit_client_level`). ``accounted_epsilon`` is the guarantee (``inf`` for the
    noise-free positive control); ``audit.epsilon_lower_bound`` is what this one run proves at
    ``audit.confidence``. The audit is a lower bound, never a certificate: a bound below the
    accounted epsilon is the expected outcome and shows nothing about how tight the accountant
    is; a bound above it would mean a bug in the mechanism or in its accounting.
    """

    audit: AuditResult
    level: Literal["sample", "client"]
    accounted_epsilon: float
    delta: float
    noise_multiplier: float
    num_canaries: int
    num_included: int  # canaries whose coin put them in (the truth the guesses are scored on)
    num_real: int  # real training rows (sample level) or real clients (client level)
    steps: int  # DP-SGD steps taken (sample level) or rounds aggregated (client level)
    sample_rate: float  # Poisson rate of one row per step, or of one client per round
    dimension: int  # coordinates of the update the score reads
    score: str
    seconds: float


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidConfig(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidConfig(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_noise_choice(epsilon: float | None, noise_multiplier: float | None) -> None:
    if (epsilon is None) == (noise_multiplier is None):
        raise InvalidConfig(
            "epsilon and noise_multiplier: give exactly one (epsilon calibrates the noise; "
            "noise_multiplier=0 is the positive control)"
        )
    if epsilon is not None:
        _check_positive("epsilon", epsilon)
    if noise_multiplier is not None and (
        isinstance(noise_multiplier, bool)
        or not isinstance(noise_multiplier, int | float | np.floating)
        or not math.isfinite(noise_multiplier)
        or noise_multiplier < 0
    ):
        raise InvalidConfig(
            f"noise_multiplier must be a finite number >= 0, got {noise_multiplier!r}"
        )


def _check_audit_args(
    delta: float, confidence: float, num_canaries: int, k_plus: int | None, k_minus: int | None
) -> tuple[int, int]:
    _check_delta_confidence(delta, confidence)
    if delta == 0:
        raise InvalidConfig("delta must be in (0, 1) for the accountant, got 0; e.g. 1e-5")
    k_plus = max(1, num_canaries // 10) if k_plus is None else k_plus
    k_minus = max(1, num_canaries // 10) if k_minus is None else k_minus
    for name, k in (("k_plus", k_plus), ("k_minus", k_minus)):
        _check_int(name, k, 0)
    if k_plus + k_minus > num_canaries:
        raise InvalidConfig(
            f"k_plus + k_minus = {k_plus + k_minus} exceeds num_canaries={num_canaries}; "
            "guess on fewer canaries"
        )
    return int(k_plus), int(k_minus)


def _flat(state: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.asarray(state[n], dtype=np.float64).ravel() for n in names])


def _canary_texts(tokenizer: object, count: int, length: int, rng: np.random.Generator) -> list:
    """``count`` strings of ``length`` random whole WordPiece words (alphabetic, >= 3 chars)."""
    special = set(getattr(tokenizer, "all_special_tokens", ()))
    words = sorted(
        t
        for t in tokenizer.get_vocab()  # type: ignore[attr-defined]
        if t.isascii() and t.isalpha() and len(t) >= 3 and t not in special
    )
    if len(words) < 100:
        raise InvalidConfig(
            f"the model's tokenizer has only {len(words)} whole alphabetic words; canary texts "
            "need a WordPiece-style vocabulary"
        )
    return [" ".join(rng.choice(words, size=length)) for _ in range(count)]


def _clipped_gradients(
    model: LoraModel,
    texts: Sequence[str],
    labels: np.ndarray,
    names: Sequence[str],
    clip: float,
    max_length: int,
) -> np.ndarray:
    """Per-example cross-entropy gradients over the ``names`` tensors, each clipped to ``clip``.

    Computed one example at a time in eval mode (no dropout), flattened in ``names`` order,
    and clipped jointly over all tensors as Opacus' flat clipping does. float64, (n, d).
    """
    import torch

    params = dict(model.module.named_parameters())
    chosen = [params[n] for n in names]
    out = np.empty((len(texts), sum(p.numel() for p in chosen)), dtype=np.float64)
    was_training = model.module.training
    model.module.eval()
    try:
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            enc = model.encode([text], max_length=max_length)
            logits = model.module(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([int(label)]))
            grads = torch.autograd.grad(loss, chosen, allow_unused=True)
            out[i] = np.concatenate(
                [
                    np.zeros(p.numel()) if g is None else g.detach().double().cpu().numpy().ravel()
                    for p, g in zip(chosen, grads, strict=True)
                ]
            )
    finally:
        model.module.train(was_training)
    norms = np.linalg.norm(out, axis=1)
    out *= np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]
    return out


def _ridge_canary_scores(
    canary_grads: np.ndarray,
    canary_labels: np.ndarray,
    real_grads: np.ndarray,
    real_labels: np.ndarray,
    target: np.ndarray,
    ridge: float,
    noise_lambda: float,
) -> np.ndarray:
    """Canary coefficients of a ridge regression of ``target`` on every reference gradient.

    The client's update is, to first order, minus a weighted sum of the clipped gradients of
    the rows it trained on plus Gaussian noise; regressing it on the gradients of all rows that
    could have been there (real rows and every canary, included or not) estimates each row's
    weight, and an included canary's weight is its number of (momentum-weighted) draws. The
    per-label mean gradients of the canaries and of the real rows are projected out first and
    left unpenalised (Frisch-Waugh-Lovell), which is the centring the shared component needs.
    ``ridge`` (relative to the mean squared reference gradient) keeps the solve stable;
    ``noise_lambda`` adds the DP noise variance relative to a canary's prior variance.
    """
    common = [
        grads[labels == y].mean(axis=0)
        for grads, labels in ((canary_grads, canary_labels), (real_grads, real_labels))
        for y in np.unique(labels)
    ]
    _, sing, vt = np.linalg.svd(np.asarray(common), full_matrices=False)
    basis = vt[sing > 1e-10 * max(float(sing[0]), 1e-300)].T  # (d, r), orthonormal columns
    ref = np.vstack([canary_grads, real_grads])
    ref -= (ref @ basis) @ basis.T
    tgt = target - basis @ (basis.T @ target)
    gram = ref @ ref.T
    lam = ridge * float(np.trace(gram)) / len(ref) + noise_lambda
    coef = np.linalg.solve(gram + lam * np.eye(len(ref)), ref @ tgt)
    return coef[: len(canary_grads)]


def audit_client_training(
    *,
    task: FederatedTask | None = None,
    client: int = 0,
    texts: Sequence[str] | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    model: LoraModel | str | None = None,
    num_canaries: int = 200,
    canary_words: int = 8,
    epsilon: float | None = None,
    noise_multiplier: float | None = None,
    delta: float = 1e-5,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 5e-3,
    max_grad_norm: float = 1.0,
    max_length: int = 32,
    score: Literal["ridge", "inner"] = "ridge",
    ridge: float = 0.01,
    k_plus: int | None = None,
    k_minus: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    source: RandomSource | None = None,
    num_threads: int | None = 1,
) -> FederatedAuditResult:
    """Audit one client's DP-SGD (:func:`qfed.training.train_local`) with canary records.

    The client's real rows (``task.client_data(client)``, or ``texts``/``labels``) get
    ``num_canaries`` canaries: strings of ``canary_words`` random WordPiece words, each with a
    random label, each included independently with probability 1/2 (seeded coins: they are
    the auditor's, not a privacy mechanism). One real ``train_local`` run with an accountant
    (Poisson batches, Opacus per-sample clipping, noise from ``source``) trains on the real
    rows plus the included canaries, with plain SGD (``optimizer="sgd"``: the update is then
    linear in the noisy gradient sums, which the score assumes). The sample rate comes from a
    public size fixed before the coins: the real rows plus ``num_canaries // 2``.

    Scores are white-box and read only the client's update ``theta_after - theta_before``:

    * ``"ridge"`` (default): each canary's coefficient in a ridge regression of minus the
      update on the clipped gradients at ``theta_before`` of every candidate row (all
      canaries and the real rows), per-label means projected out; see
      :func:`_ridge_canary_scores`. It separates canaries where the plain inner product
      drowns in the gradient component all rows share.
    * ``"inner"``: the inner product of minus the update with the canary's clipped gradient
      minus the mean canary gradient.

    Args:
        task, client: where the real rows come from (and the model, unless ``model`` is given).
        texts, labels: the real rows instead of a task.
        model: a :class:`~qfed.model.LoraModel` (trained in place, restored afterwards), a
            model name for :func:`~qfed.model.load_model` (``"tiny"``, ``"minilm"``), or
            None: the task's model, else ``"tiny"``.
        num_canaries, canary_words: m and the words per canary.
        epsilon, noise_multiplier: exactly one. ``epsilon`` plans the noise with
            :meth:`ClientAccountant.for_target_epsilon` over ``epochs`` (one round);
            ``noise_multiplier`` sets it; ``0`` is the positive control (no noise: the
            accountant's refusal of zero noise is bypassed on purpose, epsilon is ``inf``).
        delta: of the accountant and of the audit.
        epochs, batch_size, learning_rate, max_grad_norm, max_length: the
            :class:`~qfed.training.TrainSettings` of the run (``batch_size`` is the expected
            Poisson batch).
        score, ridge: the score above; ``ridge`` is the relative ridge of ``"ridge"``.
        k_plus, k_minus: guesses "in" / "out", fixed before training; default m // 10 each.
        confidence: of the bound.
        seed: canaries, labels, coins, and (through ``source``'s default) the DP noise.
        source: the mechanism's randomness; default ``SeededRandom`` from ``seed`` (a
            reproducible audit); pass ``SecureRandom()`` to audit the production draws.
        num_threads: torch threads during the audit (restored afterwards); None leaves it.

    What it shows: with probability ``confidence`` over the coins, this training is not
    (eps, delta)-DP for any eps below the returned bound. It never certifies privacy, and a
    bound far below the accounted epsilon is normal for one run with a few hundred canaries.
    """
    import torch

    from qfed.model import LoraModel, load_model
    from qfed.privacy import ClientAccountant, steps_per_epoch
    from qfed.randomness import SeededRandom
    from qfed.training import TrainSettings, train_local

    start = time.perf_counter()
    m = _check_int("num_canaries", num_canaries, 2)
    _check_int("canary_words", canary_words, 1)
    _check_noise_choice(epsilon, noise_multiplier)
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    learning_rate = _check_positive("learning_rate", learning_rate)
    max_grad_norm = _check_positive("max_grad_norm", max_grad_norm)
    max_length = _check_int("max_length", max_length, 8)
    if score not in ("ridge", "inner"):
        raise InvalidConfig(f"score must be 'ridge' or 'inner', got {score!r}")
    ridge = _check_positive("ridge", ridge)
    k_plus, k_minus = _check_audit_args(delta, confidence, m, k_plus, k_minus)
    if (task is None) == (texts is None):
        raise InvalidConfig("task and texts: give exactly one (a task's client, or the rows)")
    if task is not None:
        data = task.client_data(client)
        real_texts, real_labels = list(data.texts), np.asarray(data.labels, dtype=np.int64)
    else:
        if labels is None or len(labels) != len(texts):  # type: ignore[arg-type]
            raise InvalidConfig("labels must be given with texts, one label per text")
        real_texts = [str(t) for t in texts]  # type: ignore[union-attr]
        real_labels = np.asarray(labels, dtype=np.int64)
    if len(real_texts) == 0:
        raise InvalidConfig("texts: the client has no real rows to train on")
    if model is None:
        model = task.build_model() if task is not None else "tiny"
    if isinstance(model, str):
        num_labels = task.num_labels if task is not None else max(int(real_labels.max()) + 1, 2)
        model = load_model(model, num_labels=num_labels, seed=seed)
    if not isinstance(model, LoraModel):
        raise InvalidConfig(f"model must be a LoraModel or a model name, got {type(model)}")
    if real_labels.min() < 0 or real_labels.max() >= model.num_labels:
        raise InvalidConfig(f"labels must be in 0..{model.num_labels - 1} for this model")

    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    before = model.trainable_state()
    try:
        rng = np.random.default_rng([seed, 1])
        canaries = _canary_texts(model.tokenizer, m, canary_words, rng)
        canary_labels = rng.integers(0, model.num_labels, size=m)
        included = rng.random(m) < 0.5
        public_size = len(real_texts) + m // 2  # fixed before the coins, as a public size
        rate = 1.0 / steps_per_epoch(public_size, batch_size)
        if epsilon is not None:
            accountant = ClientAccountant.for_target_epsilon(
                epsilon,
                delta,
                num_examples=public_size,
                batch_size=batch_size,
                epochs_per_round=epochs,
                rounds=1,
            )
        else:
            z = float(noise_multiplier)  # type: ignore[arg-type]
            accountant = ClientAccountant(noise_multiplier=z or 1.0, sample_rate=rate, delta=delta)
            # the positive control: ClientAccountant refuses zero noise for real training, and
            # the audit needs exactly that mechanism without noise (epsilon_of gives inf)
            accountant.noise_multiplier = z
        z = accountant.noise_multiplier
        names = model.trainable_names()
        canary_grads = _clipped_gradients(
            model, canaries, canary_labels, names, max_grad_norm, max_length
        )
        real_grads = (
            _clipped_gradients(model, real_texts, real_labels, names, max_grad_norm, max_length)
            if score == "ridge"
            else None
        )
        train_texts = real_texts + [c for c, inc in zip(canaries, included, strict=True) if inc]
        train_labels = np.concatenate([real_labels, canary_labels[included]])
        settings = TrainSettings(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_length=max_length,
            max_grad_norm=max_grad_norm,
            optimizer="sgd",
        )
        report = train_local(
            model,
            train_texts,
            train_labels,
            settings,
            accountant=accountant,
            public_size=public_size,
            source=source or SeededRandom(np.random.default_rng([seed, 2])),
            seed=seed,
        )
        target = -(_flat(model.trainable_state(), names) - _flat(before, names))
    finally:
        model.load_trainable_state(before)
        if num_threads is not None:
            torch.set_num_threads(old_threads)

    if score == "ridge":
        q, steps = accountant.sample_rate, max(report.steps, 1)
        # DP noise variance over a canary's prior variance of draws (a Gaussian model of the
        # update): how far the regression must shrink; the score is valid whatever it is
        canary_var = 0.5 * q * (1.0 - q) + 0.25 * steps * q * q
        noise_lambda = (z * max_grad_norm) ** 2 / canary_var
        scores = _ridge_canary_scores(
            canary_grads, canary_labels, real_grads, real_labels, target, ridge, noise_lambda
        )
    else:
        scores = (canary_grads - canary_grads.mean(axis=0)) @ target
    result = one_run_audit(
        scores, included, k_plus=k_plus, k_minus=k_minus, delta=delta, confidence=confidence
    )
    return FederatedAuditResult(
        audit=result,
        level="sample",
        accounted_epsilon=float(accountant.epsilon),
        delta=float(delta),
        noise_multiplier=float(z),
        num_canaries=m,
        num_included=int(included.sum()),
        num_real=len(real_texts),
        steps=int(report.steps),
        sample_rate=float(accountant.sample_rate),
        dimension=int(canary_grads.shape[1]),
        score=score,
        seconds=time.perf_counter() - start,
    )


def audit_client_level(
    *,
    num_clients: int | None = None,
    num_canaries: int = 100,
    clients_per_round: int = 20,
    rounds: int = 50,
    epsilon: float | None = None,
    noise_multiplier: float | None = None,
    delta: float = 1e-5,
    clip_norm: float = 1.0,
    params: Mapping[str, np.ndarray] | None = None,
    dimension: int = 4096,
    client_updates: Literal["random", "train"] = "random",
    task: FederatedTask | None = None,
    update_norm: float = 1.0,
    drift: float = 0.0,
    k_plus: int | None = None,
    k_minus: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    source: RandomSource | None = None,
    num_threads: int | None = 1,
) -> FederatedAuditResult:
    """Audit client-level DP-FedAvg (:class:`~qfed.client_dp.ClientLevelDP`) with canary clients.

    After Andrew et al. (ICLR 2024): a population of ``num_clients`` real clients plus
    ``num_canaries`` canary clients, each canary in the population independently with
    probability 1/2 (seeded coins). Every round each member of the population is drawn by a
    Poisson coin with q = K / (num_clients + num_canaries), as
    :class:`~qfed.server.FederatedServer` draws clients under client-level DP (the same
    ``RandomSource.bernoulli`` call). A drawn real client sends its update; a drawn canary i
    always sends ``global + clip_norm * u_i``, with u_i its own fixed random unit direction.
    :meth:`ClientLevelDP.aggregate` (clip to C, sum, divide by K, Gaussian noise) makes every
    round, calibrated by :meth:`ClientLevelDP.for_target_epsilon` for ``epsilon`` over
    ``rounds`` (or at ``noise_multiplier``; ``0`` is the positive control, epsilon ``inf``).
    Canary i is scored by the cosine between the total model change (final - initial) and
    u_i; :func:`one_run_audit` turns the scores into a bound.

    Args:
        num_clients: real clients; default 100, or the task's ``num_clients`` with
            ``client_updates="train"``.
        num_canaries, clients_per_round, rounds: m, K and the rounds (all planned up front).
        epsilon, noise_multiplier: exactly one (see above).
        delta: of the accountant and of the audit.
        clip_norm: C.
        params: the travelling tensors (names and shapes; values are the start), e.g. a
            :class:`~qfed.model.LoraModel`'s ``trainable_state()``. Default: one flat float32
            vector of ``dimension`` zeros; with ``client_updates="train"``, the task's model.
        client_updates: ``"random"``: a drawn real client sends a fresh random update of
            norm ``update_norm * clip_norm`` whose cosine with one direction shared by all
            real clients is about ``drift`` (0: isotropic; real training drifts together,
            which hides canaries from the final-model cosine); ``"train"``: it runs
            :func:`qfed.training.train_local` (non-private locally) from the global tensors on
            ``task.client_data(i)`` with the task's train settings.
        task: the federation whose clients train, with ``client_updates="train"`` only.
        k_plus, k_minus: guesses "in" / "out", fixed before the run; default m // 10 each.
        confidence: of the bound.
        seed: the canary coins and directions, the simulated updates, and (through
            ``source``'s default) the client sampling and the noise.
        source: the server's randomness (Poisson coins and noise); default ``SeededRandom``
            from ``seed``; ``SecureRandom()`` audits the production draws.
        num_threads: torch threads with ``client_updates="train"`` (restored afterwards).

    What it shows: with probability ``confidence`` over the coins, the released sequence of
    global models is not (eps, delta)-DP at the client level for any eps below the bound. It
    is a lower bound, never a certificate, and it audits the mechanism given these updates
    (the canaries are the strongest clients a clipping bound allows), not a specific data set.
    """
    from qfed.client_dp import ClientLevelDP
    from qfed.randomness import SeededRandom

    start = time.perf_counter()
    m = _check_int("num_canaries", num_canaries, 2)
    _check_noise_choice(epsilon, noise_multiplier)
    clients_per_round = _check_int("clients_per_round", clients_per_round, 1)
    rounds = _check_int("rounds", rounds, 1)
    clip_norm = _check_positive("clip_norm", clip_norm)
    update_norm = _check_positive("update_norm", update_norm)
    if isinstance(drift, bool) or not isinstance(drift, int | float) or not 0 <= drift <= 1:
        raise InvalidConfig(f"drift must be in [0, 1], got {drift!r}")
    k_plus, k_minus = _check_audit_args(delta, confidence, m, k_plus, k_minus)
    if client_updates not in ("random", "train"):
        raise InvalidConfig(f"client_updates must be 'random' or 'train', got {client_updates!r}")
    model = None
    if task is not None and client_updates != "train":
        raise InvalidConfig(
            "task is only used with client_updates='train'; pass params (e.g. the model's "
            "trainable_state()) to audit random updates on its tensors"
        )
    if client_updates == "train":
        if task is None:
            raise InvalidConfig("task is needed with client_updates='train' (its clients train)")
        if num_clients is not None and num_clients != task.config.num_clients:
            raise InvalidConfig(
                f"num_clients={num_clients} but the task has {task.config.num_clients} clients; "
                "leave num_clients unset with client_updates='train'"
            )
        num_clients = task.config.num_clients
        model = task.build_model()
        if params is None:
            params = model.trainable_state()
    num_clients = _check_int("num_clients", 100 if num_clients is None else num_clients, 1)
    if params is None:
        dimension = _check_int("dimension", dimension, 2)
        params = {"update": np.zeros(dimension, dtype=np.float32)}
    if not params:
        raise InvalidConfig("params is empty; pass the tensors that travel")
    names = list(params)
    shapes = {n: np.shape(params[n]) for n in names}
    sizes = [int(np.prod(shapes[n], dtype=np.int64)) for n in names]
    dim = int(sum(sizes))
    population_max = num_clients + m
    if clients_per_round > population_max:
        raise InvalidConfig(
            f"clients_per_round={clients_per_round} exceeds num_clients + num_canaries = "
            f"{population_max}; sample fewer clients per round"
        )

    def unflat(flat: np.ndarray) -> dict[str, np.ndarray]:
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        return {n: p.reshape(shapes[n]) for n, p in zip(names, parts, strict=True)}

    coins = np.random.default_rng([seed, 1])
    included = coins.random(m) < 0.5
    directions = np.random.default_rng([seed, 2]).standard_normal((m, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    shared = np.random.default_rng([seed, 3]).standard_normal(dim)
    shared /= np.linalg.norm(shared)
    if epsilon is not None:
        dp = ClientLevelDP.for_target_epsilon(
            epsilon,
            delta,
            rounds=rounds,
            clients_per_round=clients_per_round,
            total_clients=population_max,
            clip_norm=clip_norm,
        )
    else:
        dp = ClientLevelDP(
            clip_norm,
            float(noise_multiplier),  # type: ignore[arg-type]
            clients_per_round,
            population_max,
            delta,
            max_rounds=rounds,
        )
    server_source = source or SeededRandom(np.random.default_rng([seed, 4]))
    # the population: real clients 0..N-1, then the included canaries (ids N + i)
    population = list(range(num_clients)) + [num_clients + int(i) for i in np.flatnonzero(included)]
    glob = {n: np.asarray(params[n], dtype=np.float32).copy() for n in names}
    initial = _flat(glob, names)

    old_threads = None
    if model is not None and num_threads is not None:
        import torch

        old_threads = torch.get_num_threads()
        torch.set_num_threads(num_threads)
    try:
        for rnd in range(rounds):
            drawn = server_source.bernoulli(len(population), dp.sample_rate)
            flat_glob = _flat(glob, names)
            replies = []
            for cid in (c for c, hit in zip(population, drawn, strict=True) if hit):
                if cid >= num_clients:  # a canary: the largest update clipping lets through
                    replies.append(unflat(flat_glob + clip_norm * directions[cid - num_clients]))
                elif model is not None:
                    replies.append(_trained_reply(model, task, cid, glob, seed * 1_000_003 + rnd))
                else:
                    # a simulated real client: independent of the canary coins by construction
                    own = np.random.default_rng([seed, 5, rnd, cid]).standard_normal(dim)
                    own /= np.linalg.norm(own)
                    step = drift * shared + math.sqrt(1.0 - drift * drift) * own
                    step *= update_norm * clip_norm / np.linalg.norm(step)
                    replies.append(unflat(flat_glob + step))
            glob = dp.aggregate(glob, replies, server_source)
    finally:
        if old_threads is not None:
            import torch

            torch.set_num_threads(old_threads)

    change = _flat(glob, names) - initial
    norm = float(np.linalg.norm(change))
    scores = directions @ change / (norm if norm > 0 else 1.0)
    result = one_run_audit(
        scores, included, k_plus=k_plus, k_minus=k_minus, delta=delta, confidence=confidence
    )
    return FederatedAuditResult(
        audit=result,
        level="client",
        accounted_epsilon=float(dp.epsilon),
        delta=float(delta),
        noise_multiplier=float(dp.noise_multiplier),
        num_canaries=m,
        num_included=int(included.sum()),
        num_real=num_clients,
        steps=dp.rounds,
        sample_rate=float(dp.sample_rate),
        dimension=dim,
        score="cosine",
        seconds=time.perf_counter() - start,
    )


def _trained_reply(
    model: LoraModel,
    task: FederatedTask | None,
    client: int,
    glob: Mapping[str, np.ndarray],
    seed: int,
) -> dict[str, np.ndarray]:
    """One real client's local (non-private) training from the global tensors."""
    from qfed.training import train_local

    assert task is not None
    data = task.client_data(client)
    model.load_trainable_state(glob)
    train_local(model, data.texts, data.labels, task.config.train_settings, seed=seed)
    return model.trainable_state()
