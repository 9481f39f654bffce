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
