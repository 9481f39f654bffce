"""Sample-level DP-SGD accounting for one client across every round it trains.

The Flower Opacus example builds a new ``PrivacyEngine`` each round and so reports the epsilon
of one round only. Here each client owns one :class:`ClientAccountant` for the whole run: its
history of (noise multiplier, sample rate, steps) is composed by an RDP or PRV accountant, it
serialises to plain JSON for Flower's ``context.state``, and it refuses steps that would take
the client past its budget.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from qfed.errors import BudgetExhausted, InvalidConfig

MECHANISMS = ("rdp", "prv")

# RDP orders searched when converting to (epsilon, delta): Opacus' defaults stop at 63, which
# is too low for small sampling rates over few steps (the optimum sits at the largest order and
# the bound is loose), so the range is extended up to 4096. Sample-level and client-level
# accounting both use these, so planning and reporting agree.
RDP_ORDERS: list[float] = [
    *[1 + x / 10.0 for x in range(1, 100)],  # Opacus' RDPAccountant.DEFAULT_ALPHAS
    *range(12, 64),
    *range(64, 256, 8),
    *(256 * 2**i for i in range(5)),
]


# Opacus warnings that say nothing to act on, silenced where qfed runs Opacus (the project
# turns warnings into errors in tests, and users should not see them on every round):
OPACUS_NOISE = (
    # qfed draws noise and batches from its own CSPRNG (qfed.randomness), not Opacus' RNG
    "Secure RNG turned off",
    # inputs (token ids, canaries) never require grad; per-sample gradients are still right
    "Full backward hook is firing",
    # the bound at the largest (or smallest) RDP order tried is still a valid, slightly
    # loose bound
    "Optimal order is the largest alpha",
    "Optimal order is the smallest alpha",
)


@contextlib.contextmanager
def quiet_opacus() -> Iterator[None]:
    """Silence :data:`OPACUS_NOISE` (and only those) inside the block."""
    with warnings.catch_warnings():
        for message in OPACUS_NOISE:
            warnings.filterwarnings("ignore", message=message)
        yield


@functools.lru_cache(maxsize=256)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> np.ndarray:
    from opacus.accountants.analysis.rdp import compute_rdp

    return np.asarray(
        compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=RDP_ORDERS)
    )


def epsilon_of(
    history: list[tuple[float, float, int]], delta: float, mechanism: str = "rdp"
) -> float:
    """Epsilon at ``delta`` of the subsampled Gaussian mechanism run as ``history`` says.

    ``history`` holds (noise multiplier, sample rate, steps) triples, as Opacus accountants
    keep them. RDP composes by addition, so each pair's per-step RDP is computed once (cached)
    and scaled by its steps: epsilon for any history, and the bisections over steps and noise
    that planning needs, cost a few vector operations. A step without noise gives no privacy
    (infinite epsilon). ``mechanism="prv"`` uses Opacus' PRV accountant instead.
    """
    history = [(float(z), float(q), int(n)) for z, q, n in history if n > 0]
    if not history:
        return 0.0
    if any(z == 0.0 for z, _, _ in history):
        return math.inf
    if mechanism == "prv":
        from opacus.accountants import PRVAccountant

        accountant = PRVAccountant()
        accountant.history = history
        return float(accountant.get_epsilon(delta=delta))
    from opacus.accountants.analysis.rdp import get_privacy_spent

    total = sum(n * _rdp_per_step(z, q) for z, q, n in history)
    with quiet_opacus():
        eps, _ = get_privacy_spent(orders=RDP_ORDERS, rdp=total, delta=delta)
    return float(eps)


def _check_delta(delta: float) -> None:
    if not (isinstance(delta, int | float) and 0.0 < delta < 1.0):
        raise InvalidConfig(f"delta must be in (0, 1), e.g. 1e-5; got {delta!r}")


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Opacus's Poisson loader takes ``ceil(n / batch_size)`` steps at rate ``1 / that``."""
    if num_examples < 1:
        raise InvalidConfig(f"num_examples must be >= 1, got {num_examples}")
    if batch_size < 1:
        raise InvalidConfig(f"batch_size must be >= 1, got {batch_size}")
    return math.ceil(num_examples / batch_size)


def noise_for_target(
    target_epsilon: float,
    delta: float,
    *,
    sample_rate: float,
    steps: int,
    mechanism: str = "rdp",
    prior: Sequence[tuple[float, float, int]] = (),
) -> float:
    """The noise multiplier that spends exactly ``target_epsilon`` over ``steps`` steps.

    ``prior`` is what was already spent (an accountant history): the steps planned here are
    composed after it, so the total lands at the target. Raises :class:`BudgetExhausted` when
    the prior alone already reaches the target.
    """
    if not (math.isfinite(target_epsilon) and target_epsilon > 0):
        raise InvalidConfig(f"target epsilon must be a positive number, got {target_epsilon!r}")
    _check_delta(delta)
    if steps < 1:
        raise InvalidConfig(f"planned steps must be >= 1, got {steps}")
    if mechanism not in MECHANISMS:
        raise InvalidConfig(f"accountant must be one of {MECHANISMS}, got {mechanism!r}")
    before = tuple((float(z), float(q), int(n)) for z, q, n in prior if int(n) > 0)
    if before and epsilon_of(list(before), delta, mechanism) >= target_epsilon:
        raise BudgetExhausted(
            f"epsilon {target_epsilon} at delta {delta} is already spent by earlier releases "
            f"(epsilon {epsilon_of(list(before), delta, mechanism):.4g}); nothing is left to plan"
        )
    return _noise_for_target(
        float(target_epsilon), float(delta), float(sample_rate), int(steps), mechanism, before
    )


@functools.lru_cache(maxsize=64)
def _noise_for_target(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    mechanism: str,
    prior: tuple[tuple[float, float, int], ...] = (),
) -> float:
    if mechanism == "prv" and not prior:
        from opacus.accountants.utils import get_noise_multiplier

        try:
            with quiet_opacus():  # opacus brackets the PRV search with RDP
                sigma = get_noise_multiplier(
                    target_epsilon=target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    accountant="prv",
                    epsilon_tolerance=0.005 * target_epsilon,
                )
        except ValueError as exc:  # opacus: "The privacy budget is too low."
            raise InvalidConfig(
                f"epsilon {target_epsilon} at delta {delta} cannot be met in {steps} steps "
                f"(opacus: {exc}); raise epsilon or delta, or train fewer steps"
            ) from exc
        return float(sigma)

    def spent(sigma: float) -> float:
        return epsilon_of([*prior, (sigma, sample_rate, steps)], delta, mechanism)

    # bracket sigma geometrically: spent(low) > target >= spent(high)
    low, high = 0.5, 1.0
    while spent(high) > target_epsilon:
        low, high = high, 2 * high
        if high > 1e4:
            raise InvalidConfig(
                f"epsilon {target_epsilon} at delta {delta} cannot be met in {steps} steps; "
                "raise epsilon or delta, or train fewer steps"
            )
    while spent(low) <= target_epsilon and low > 1e-3:
        low, high = low / 2, low
    # Illinois false position on log(spent) against log(sigma) (nearly linear there), to
    # 0.5% below the target: the returned sigma always spends at most the target
    goal = math.log(target_epsilon * 0.9975)
    x_lo, x_hi = math.log(low), math.log(high)
    f_lo, f_hi = math.log(spent(low)) - goal, math.log(spent(high)) - goal
    side = 0
    for _ in range(60):
        if target_epsilon * 0.995 <= spent(high) <= target_epsilon or x_hi - x_lo < 1e-9:
            break
        x = x_hi - f_hi * (x_hi - x_lo) / (f_hi - f_lo)
        if not x_lo < x < x_hi:
            x = 0.5 * (x_lo + x_hi)
        value = spent(math.exp(x))
        f = math.log(value) - goal if value > 0 else -math.inf
        if value > target_epsilon:
            x_lo, f_lo = x, f
            if side == -1:
                f_hi /= 2
            side = -1
        else:
            x_hi, f_hi = x, f
            high = math.exp(x)
            if side == 1:
                f_lo /= 2
            side = 1
    return high


@dataclass
class ClientAccountant:
    """(epsilon, delta) spent by one client's DP-SGD, composed over all of its rounds.

    ``epsilon_budget`` is the most the client will ever spend; :meth:`affordable_steps` says
    how many more steps fit, and the training loop stops there (the client says so).
    """

    noise_multiplier: float
    sample_rate: float
    delta: float
    epsilon_budget: float = math.inf
    mechanism: str = "rdp"
    history: list[tuple[float, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise InvalidConfig(f"accountant must be one of {MECHANISMS}, got {self.mechanism!r}")
        _check_delta(self.delta)
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise InvalidConfig(
                f"noise_multiplier must be > 0 for DP training, got {self.noise_multiplier!r} "
                "(turn DP off instead of setting zero noise)"
            )
        if not 0.0 < self.sample_rate <= 1.0:
            raise InvalidConfig(f"sample_rate must be in (0, 1], got {self.sample_rate!r}")
        if not self.epsilon_budget > 0:
            raise InvalidConfig(f"epsilon_budget must be > 0, got {self.epsilon_budget!r}")
        self.history = [(float(z), float(q), int(n)) for z, q, n in self.history]

    @classmethod
    def for_target_epsilon(
        cls,
        target_epsilon: float,
        delta: float,
        *,
        num_examples: int,
        batch_size: int,
        epochs_per_round: int,
        rounds: int,
        mechanism: str = "rdp",
        max_steps_per_round: int | None = None,
        prior_history: Sequence[tuple[float, float, int]] = (),
    ) -> ClientAccountant:
        """Plan up front: the noise that spends ``target_epsilon`` over all planned rounds.

        ``rounds`` is how many rounds this client is planned to train in. Planning for every
        round of the run is the safe choice; planning fewer gives less noise and the client
        stops when its budget is spent. ``num_examples`` sets the sample rate
        (``1 / ceil(num_examples / batch_size)``) and must be public: a DP count or a size
        fixed in advance, never the exact size of private data. ``prior_history`` is what the
        client already spent (e.g. its noisy label counts); the plan composes after it.
        """
        if epochs_per_round < 1 or rounds < 1:
            raise InvalidConfig(
                f"epochs_per_round and rounds must be >= 1, got {epochs_per_round}, {rounds}"
            )
        per_epoch = steps_per_epoch(num_examples, batch_size)
        rate = 1.0 / per_epoch
        per_round = per_epoch * epochs_per_round
        if max_steps_per_round is not None:
            per_round = min(per_round, max_steps_per_round)
        sigma = noise_for_target(
            target_epsilon,
            delta,
            sample_rate=rate,
            steps=per_round * rounds,
            mechanism=mechanism,
            prior=prior_history,
        )
        return cls(
            noise_multiplier=sigma,
            sample_rate=rate,
            delta=delta,
            epsilon_budget=target_epsilon,
            mechanism=mechanism,
            history=[tuple(h) for h in prior_history],
        )

    @property
    def steps(self) -> int:
        return sum(n for _, _, n in self.history)

    @property
    def epsilon(self) -> float:
        """Epsilon spent so far, at this accountant's delta."""
        return epsilon_of(self.history, self.delta, self.mechanism)

    def epsilon_after(self, steps: int) -> float:
        """What epsilon would be after ``steps`` more steps at the current settings."""
        return epsilon_of(
            [*self.history, (self.noise_multiplier, self.sample_rate, steps)],
            self.delta,
            self.mechanism,
        )

    def affordable_steps(self, wanted: int) -> int:
        """How many of ``wanted`` further steps fit in the budget (0 when it is spent)."""
        if wanted <= 0 or math.isinf(self.epsilon_budget):
            return max(wanted, 0)
        if self.epsilon_after(wanted) <= self.epsilon_budget:
            return wanted
        low, high = 0, wanted  # epsilon grows with steps: bisect the largest that fits
        while high - low > 1:
            mid = (low + high) // 2
            if self.epsilon_after(mid) <= self.epsilon_budget:
                low = mid
            else:
                high = mid
        return low

    @property
    def exhausted(self) -> bool:
        return self.affordable_steps(1) == 0

    def record(
        self,
        steps: int,
        *,
        noise_multiplier: float | None = None,
        sample_rate: float | None = None,
    ) -> None:
        """Add ``steps`` steps to the history (merged with the last entry if equal).

        Defaults are this accountant's DP-SGD settings; a Gaussian release of a
        sensitivity-1 statistic (e.g. noisy counts with std ``z``) is ``noise_multiplier=z,
        sample_rate=1.0``.
        """
        if steps <= 0:
            return
        z = self.noise_multiplier if noise_multiplier is None else float(noise_multiplier)
        q = self.sample_rate if sample_rate is None else float(sample_rate)
        if self.history and self.history[-1][:2] == (z, q):
            z0, q0, n0 = self.history[-1]
            self.history[-1] = (z0, q0, n0 + steps)
        else:
            self.history.append((z, q, steps))

    def state_dict(self) -> dict:
        """Plain JSON-able state, e.g. for Flower's ``context.state``."""
        return {
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "delta": self.delta,
            "epsilon_budget": None if math.isinf(self.epsilon_budget) else self.epsilon_budget,
            "mechanism": self.mechanism,
            "history": [list(h) for h in self.history],
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> ClientAccountant:
        try:
            budget = state.get("epsilon_budget")
            return cls(
                noise_multiplier=float(state["noise_multiplier"]),
                sample_rate=float(state["sample_rate"]),
                delta=float(state["delta"]),
                epsilon_budget=math.inf if budget is None else float(budget),
                mechanism=str(state.get("mechanism", "rdp")),
                history=[tuple(h) for h in state.get("history", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidConfig(f"not a ClientAccountant state: {exc}") from exc
