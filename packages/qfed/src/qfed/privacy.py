"""Sample-level DP-SGD accounting for one client across every round it trains.

The Flower Opacus example builds a new ``PrivacyEngine`` each round and so reports the epsilon
of one round only. Here each client owns one :class:`ClientAccountant` for the whole run: its
history of (noise multiplier, sample rate, steps) is composed by an RDP or PRV accountant, it
serialises to plain JSON for Flower's ``context.state``, and it refuses steps that would take
the client past its budget.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from qfed.errors import InvalidConfig

MECHANISMS = ("rdp", "prv")


def _accountant(mechanism: str):
    from opacus.accountants import PRVAccountant, RDPAccountant

    return RDPAccountant() if mechanism == "rdp" else PRVAccountant()


@functools.lru_cache(maxsize=256)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> np.ndarray:
    from opacus.accountants.analysis.rdp import compute_rdp

    return np.asarray(
        compute_rdp(
            q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(_orders())
        )
    )


@functools.cache
def _orders() -> tuple[float, ...]:
    # the same wide range of RDP orders as client-level accounting, so planning and reporting
    # agree and small epsilons are not inflated by opacus's default cap at order 63
    from qfed.client_dp import RDP_ORDERS

    return tuple(RDP_ORDERS)


def _rdp_epsilon(history: list[tuple[float, float, int]], delta: float) -> float:
    """RDP composes by addition: sum each (noise, rate) pair's per-step RDP times its steps.

    Caching the per-step vector makes epsilon for any history (and the bisections over steps
    and noise below) a few vector operations instead of a fresh RDP computation each time.
    """
    from opacus.accountants.analysis.rdp import get_privacy_spent

    total = sum(n * _rdp_per_step(float(z), float(q)) for z, q, n in history)
    with warnings.catch_warnings():
        # the bound at the largest order tried is still a valid (slightly loose) bound
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        eps, _ = get_privacy_spent(orders=list(_orders()), rdp=total, delta=delta)
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
) -> float:
    """The noise multiplier that spends exactly ``target_epsilon`` over ``steps`` steps."""
    if not (math.isfinite(target_epsilon) and target_epsilon > 0):
        raise InvalidConfig(f"target epsilon must be a positive number, got {target_epsilon!r}")
    _check_delta(delta)
    if steps < 1:
        raise InvalidConfig(f"planned steps must be >= 1, got {steps}")
    if mechanism not in MECHANISMS:
        raise InvalidConfig(f"accountant must be one of {MECHANISMS}, got {mechanism!r}")
    return _noise_for_target(
        float(target_epsilon), float(delta), float(sample_rate), int(steps), mechanism
    )


@functools.lru_cache(maxsize=64)
def _noise_for_target(
    target_epsilon: float, delta: float, sample_rate: float, steps: int, mechanism: str
) -> float:
    if mechanism == "prv":
        from opacus.accountants.utils import get_noise_multiplier

        return float(
            get_noise_multiplier(
                target_epsilon=target_epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant="prv",
                epsilon_tolerance=0.005 * target_epsilon,
            )
        )

    def spent(sigma: float) -> float:
        return _rdp_epsilon([(sigma, sample_rate, steps)], delta)

    low, high = 0.0, 10.0
    while spent(high) > target_epsilon:
        low, high = high, 2 * high
        if high > 1e4:
            raise InvalidConfig(
                f"epsilon {target_epsilon} at delta {delta} cannot be met in {steps} steps; "
                "raise epsilon or delta, or train fewer steps"
            )
    # bisect to 0.5% of the target: the returned sigma always spends at most the target
    while spent(high) < target_epsilon * 0.995 and high - low > 1e-6:
        mid = (low + high) / 2
        if spent(mid) > target_epsilon:
            low = mid
        else:
            high = mid
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
    ) -> ClientAccountant:
        """Plan up front: the noise that spends ``target_epsilon`` over all planned rounds.

        ``rounds`` is how many rounds this client is planned to train in. Planning for every
        round of the run is the safe choice; planning fewer gives less noise and the client
        stops when its budget is spent.
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
        )
        return cls(
            noise_multiplier=sigma,
            sample_rate=rate,
            delta=delta,
            epsilon_budget=target_epsilon,
            mechanism=mechanism,
        )

    @property
    def steps(self) -> int:
        return sum(n for _, _, n in self.history)

    def _epsilon_of(self, history: list[tuple[float, float, int]]) -> float:
        if not history:
            return 0.0
        if self.mechanism == "rdp":
            return _rdp_epsilon(history, self.delta)
        accountant = _accountant(self.mechanism)
        accountant.history = list(history)
        return float(accountant.get_epsilon(delta=self.delta))

    @property
    def epsilon(self) -> float:
        """Epsilon spent so far, at this accountant's delta."""
        return self._epsilon_of(self.history)

    def epsilon_after(self, steps: int) -> float:
        """What epsilon would be after ``steps`` more steps at the current settings."""
        return self._epsilon_of([*self.history, (self.noise_multiplier, self.sample_rate, steps)])

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

    def record(self, steps: int, *, noise_multiplier: float | None = None) -> None:
        """Add ``steps`` DP-SGD steps to the history (merged with the last entry if equal)."""
        if steps <= 0:
            return
        z = self.noise_multiplier if noise_multiplier is None else float(noise_multiplier)
        if self.history and self.history[-1][:2] == (z, self.sample_rate):
            z0, q0, n0 = self.history[-1]
            self.history[-1] = (z0, q0, n0 + steps)
        else:
            self.history.append((z, self.sample_rate, steps))

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
