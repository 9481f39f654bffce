"""Client-level differential privacy for federated averaging (DP-FedAvg).

McMahan, Ramage, Talwar, Zhang, "Learning Differentially Private Recurrent Language Models"
(ICLR 2018). The unit of privacy is a *client*: neighbouring datasets differ in all the data of
one client, so the guarantee covers everything a client contributes over all rounds.

One round, as :meth:`ClientLevelDP.aggregate` runs it:

1. For every sampled client, the update is the client's parameters minus the global
   parameters (only the tensors that travel, e.g. the LoRA adapters).
2. Each update is clipped to L2 norm ``clip_norm`` (C) over all its tensors jointly, so one
   client moves the *sum* of updates by at most C.
3. The clipped updates are summed and divided by the fixed denominator ``clients_per_round``
   (K), not by the number that actually reported. A fixed denominator keeps the sensitivity
   of the mean at exactly C/K whatever the number of participants (McMahan et al.'s
   estimator f~_f with uniform weights); with a varying count the sensitivity would depend on
   who was sampled. The price is a mean shrunk towards zero in a round where fewer than K
   clients report. Weighted averaging is deliberately not offered: unbounded weights would
   break the sensitivity bound.
4. Gaussian noise N(0, (z*C/K)^2) is added to every coordinate, and the noisy mean update is
   added to the global parameters.

Accounting treats one round as one step of the sampled Gaussian mechanism with noise
multiplier z and client sampling rate q = K/N (Poisson sampling: every client joins each
round independently with probability q, so a round's size varies; neighbouring federations
differ by adding or removing one client), composed over rounds by an Opacus accountant
(RDP by default, PRV as an option). The privacy guarantee is about clients, not examples; it
composes with, and is separate from, any sample-level DP-SGD the clients run locally.

Amplification by subsampling is only earned when the server samples clients the way the
accountant assumes: Poisson sampling, each client independently with probability q per
round, independently of any data. (Drawing exactly K without replacement is a different
mechanism; the Poisson accountant understates its epsilon.) A server that *selects* clients
by optimisation (qfed's QUBO or greedy selection, or any rule that looks at client data,
loss or size) loses more than amplification: one client's data changes who is selected, and
so which updates are summed, and the sensitivity argument itself fails. ``amplification=False``
accounts such rounds at q = 1, but that number is not a guarantee when selection reads
client data; ``FedConfig`` refuses that combination unless the user opts out of the
guarantee (``allow_unprotected_selection``), and the report then says it does not hold.

The Gaussian noise is drawn from the kernel CSPRNG (:class:`qfed.randomness.SecureRandom`)
unless the caller passes a seed, which is the explicit, not private, test mode. The server
that runs this class must also draw the round's clients itself with Poisson coins from a
CSPRNG (``FederatedServer`` does) and keep who was drawn to itself: amplification by
subsampling assumes nobody else learns the sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.accountant import IAccountant

from qfed.errors import BudgetExhausted, DataError, InvalidConfig
from qfed.privacy import RDP_ORDERS, epsilon_of, noise_for_target
from qfed.randomness import RandomSource, random_source

__all__ = ["ACCOUNTANTS", "RDP_ORDERS", "ClientLevelDP", "update_norm"]

#: Accountant names accepted by :class:`ClientLevelDP`, mapped to the Opacus classes.
ACCOUNTANTS: dict[str, type[IAccountant]] = {"rdp": RDPAccountant, "prv": PRVAccountant}

Params = Mapping[str, np.ndarray]


# Bumped when the layout of state_dict() changes, so an old checkpoint is refused clearly.
_STATE_VERSION = 1


def update_norm(update: Params) -> float:
    """The L2 norm of ``update`` over all its tensors jointly (as if flattened into one)."""
    total = 0.0
    for value in update.values():
        flat = np.asarray(value, dtype=np.float64).ravel()
        total += float(flat @ flat)
    return math.sqrt(total)


def _check_positive(name: str, value: float, fix: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidConfig(f"{name} must be a finite number, got {value!r}; {fix}")
    if value <= 0:
        raise InvalidConfig(f"{name} must be > 0, got {value!r}; {fix}")
    return float(value)


def _check_count(name: str, value: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidConfig(f"{name} must be an integer >= 1, got {value!r}; {fix}")
    return int(value)


class ClientLevelDP:
    """Server-side client-level DP for federated averaging, with an accountant over rounds.

    Args:
        clip_norm: C, the L2 bound on each client's update over all travelling tensors.
        noise_multiplier: z, the noise std in units of the sensitivity C/K. ``0`` adds no
            noise and gives no privacy (epsilon is infinite); useful only as a control.
        clients_per_round: K, the expected number of clients sampled per round, and the fixed
            denominator of the mean.
        total_clients: N, the population clients are sampled from.
        delta: the delta of the (epsilon, delta) guarantee, conventionally below 1/N.
        accountant: ``"rdp"`` (Opacus RDPAccountant) or ``"prv"`` (Opacus PRVAccountant,
            tighter and slower).
        amplification: True when clients are sampled uniformly at random with rate
            q = K/N each round (then subsampling amplifies privacy). Set False when clients
            are chosen by any other rule, e.g. QUBO selection: rounds are then accounted at
            q = 1, with no amplification.
        target_epsilon: optional budget. :meth:`aggregate` raises :class:`BudgetExhausted`
            rather than run a round that would take epsilon past it.
        max_rounds: optional planned number of rounds; :meth:`aggregate` refuses more.
    """

    def __init__(
        self,
        clip_norm: float,
        noise_multiplier: float,
        clients_per_round: int,
        total_clients: int,
        delta: float,
        accountant: str = "rdp",
        *,
        amplification: bool = True,
        target_epsilon: float | None = None,
        max_rounds: int | None = None,
    ) -> None:
        self.clip_norm = _check_positive(
            "clip_norm", clip_norm, "pass the L2 bound on one client's update, e.g. 1.0"
        )
        if (
            isinstance(noise_multiplier, bool)
            or not isinstance(noise_multiplier, int | float)
            or not math.isfinite(noise_multiplier)
            or noise_multiplier < 0
        ):
            raise InvalidConfig(
                f"noise_multiplier must be a finite number >= 0, got {noise_multiplier!r}; "
                "pass z (e.g. 1.0) or use ClientLevelDP.for_target_epsilon to calibrate it"
            )
        self.noise_multiplier = float(noise_multiplier)
        self.clients_per_round = _check_count(
            "clients_per_round", clients_per_round, "pass K, the clients sampled per round"
        )
        self.total_clients = _check_count(
            "total_clients", total_clients, "pass N, the number of clients in the federation"
        )
        if self.clients_per_round > self.total_clients:
            raise InvalidConfig(
                f"clients_per_round (K={self.clients_per_round}) must be <= total_clients "
                f"(N={self.total_clients}); sample at most N clients per round"
            )
        if (
            isinstance(delta, bool)
            or not isinstance(delta, int | float)
            or not 0.0 < float(delta) < 1.0
        ):
            raise InvalidConfig(
                f"delta must be in (0, 1), got {delta!r}; use e.g. 1/N or smaller "
                f"(here 1/N = {1.0 / self.total_clients:.3g})"
            )
        self.delta = float(delta)
        if accountant not in ACCOUNTANTS:
            raise InvalidConfig(
                f"accountant must be one of {sorted(ACCOUNTANTS)}, got {accountant!r}"
            )
        self.accountant_name = accountant
        self.amplification = bool(amplification)
        self.target_epsilon = (
            None
            if target_epsilon is None
            else _check_positive("target_epsilon", target_epsilon, "pass a budget such as 8.0")
        )
        self.max_rounds = (
            None
            if max_rounds is None
            else _check_count("max_rounds", max_rounds, "pass the planned number of rounds")
        )
        self._accountant: IAccountant = ACCOUNTANTS[accountant]()

    # ------------------------------------------------------------------ calibration

    @classmethod
    def for_target_epsilon(
        cls,
        target_epsilon: float,
        delta: float,
        rounds: int,
        clients_per_round: int,
        total_clients: int,
        clip_norm: float,
        accountant: str = "rdp",
        *,
        amplification: bool = True,
    ) -> ClientLevelDP:
        """Calibrate z so that ``rounds`` rounds spend at most ``target_epsilon``.

        Uses :func:`qfed.privacy.noise_for_target` (a bisection on the same accountant) with
        sample_rate = K/N (or 1 without amplification) and steps = rounds. The tolerance is
        0.5% of the target, so the planned rounds land within 1% below it. The returned
        object enforces the plan: :meth:`aggregate` refuses round ``rounds + 1``.
        """
        target = _check_positive("target_epsilon", target_epsilon, "pass a budget such as 8.0")
        rounds = _check_count("rounds", rounds, "pass the planned number of rounds")
        # Build once with a placeholder z, so every argument is validated before calibrating.
        probe = cls(
            clip_norm,
            1.0,
            clients_per_round,
            total_clients,
            delta,
            accountant,
            amplification=amplification,
        )
        # the same accounting as .epsilon (qfed.privacy), so calibration and reports agree
        z = noise_for_target(
            target, probe.delta, sample_rate=probe.sample_rate, steps=rounds, mechanism=accountant
        )
        return cls(
            clip_norm,
            z,
            clients_per_round,
            total_clients,
            delta,
            accountant,
            amplification=amplification,
            target_epsilon=target,
            max_rounds=rounds,
        )

    # ------------------------------------------------------------------ accounting

    @property
    def sample_rate(self) -> float:
        """q used by the accountant: K/N with amplification, 1.0 without."""
        if not self.amplification:
            return 1.0
        return self.clients_per_round / self.total_clients

    @property
    def noise_std(self) -> float:
        """Per-coordinate std of the noise added to the mean update: z*C/K."""
        return self.noise_multiplier * self.clip_norm / self.clients_per_round

    @property
    def rounds(self) -> int:
        """Rounds accounted so far."""
        return sum(steps for _, _, steps in self._accountant.history)

    def _epsilon_after(self, rounds: int) -> float:
        # The recorded history (which a restored checkpoint may have written with another z)
        # plus the rounds still to come at the current z and q.
        history = [tuple(h) for h in self._accountant.history]
        extra = rounds - self.rounds
        if extra < 0:
            raise InvalidConfig(
                f"rounds={rounds} is below the {self.rounds} rounds already accounted"
            )
        history.append((self.noise_multiplier, self.sample_rate, extra))
        return epsilon_of(history, self.delta, self.accountant_name)

    @property
    def epsilon(self) -> float:
        """Epsilon spent so far at ``delta`` (0 before the first round)."""
        return self._epsilon_after(self.rounds)

    def epsilon_after(self, rounds: int) -> float:
        """Epsilon that ``rounds`` rounds in total (done plus planned) would spend."""
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise InvalidConfig(f"rounds must be an integer >= 0, got {rounds!r}")
        return self._epsilon_after(rounds)

    def would_exceed(self, target_epsilon: float | None = None) -> bool:
        """Whether one more round would take epsilon past ``target_epsilon``.

        Without an argument the budget given at construction is used (or the planned round
        count, for objects from :meth:`for_target_epsilon`); with neither, never True.
        """
        if (
            self.max_rounds is not None
            and target_epsilon is None
            and (self.rounds >= self.max_rounds)
        ):
            return True
        target = self.target_epsilon if target_epsilon is None else target_epsilon
        if target is None:
            return False
        return self._epsilon_after(self.rounds + 1) > target

    def step(self) -> None:
        """Account one round; :meth:`aggregate` calls it, so call it only if you noise yourself.

        Raises :class:`BudgetExhausted` when the budget or the planned rounds are spent.
        """
        if self.would_exceed():
            raise BudgetExhausted(
                f"client-level privacy budget spent: {self.rounds} rounds give "
                f"epsilon={self.epsilon:.4g} at delta={self.delta:g}, and another round "
                f"would exceed target_epsilon={self.target_epsilon} "
                f"(max_rounds={self.max_rounds}); stop training or plan a larger budget"
            )
        self._accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    # ------------------------------------------------------------------ the mechanism

    def clip(self, update: Params) -> tuple[dict[str, np.ndarray], float]:
        """Scale ``update`` to L2 norm at most C (jointly over tensors).

        Returns the clipped update (float64 arrays) and the norm *before* clipping.
        """
        if not update:
            raise DataError("update is empty; a client must send at least one tensor")
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in update.items()}
        norm = update_norm(arrays)
        if not math.isfinite(norm):
            raise DataError(
                "update has a non-finite value (NaN or inf); drop this client's update "
                "before aggregation"
            )
        factor = min(1.0, self.clip_norm / norm) if norm > 0 else 1.0
        return {k: v * factor for k, v in arrays.items()}, norm

    def aggregate(
        self,
        global_params: Params,
        client_params_list: Sequence[Params],
        rng: RandomSource | np.random.Generator | int | None = None,
    ) -> dict[str, np.ndarray]:
        """Run one DP-FedAvg round and return the new global parameters.

        ``client_params_list`` holds the parameters each sampled client sent back (same keys
        and shapes as ``global_params``); it may be empty (nobody was sampled, or nobody
        replied): the round then releases noise only, as the sampled Gaussian mechanism
        assumes, and is accounted like any other. The result is global + (sum of clipped
        deltas)/K + N(0, (z*C/K)^2), in the dtype of each global tensor. Accounts one round
        first, so a spent budget raises :class:`BudgetExhausted` before anything is computed.

        ``rng``: ``None`` (default) draws the noise from the CSPRNG
        (:class:`qfed.randomness.SecureRandom`); an int or a NumPy generator is the seeded
        test mode (reproducible, not private); or any :class:`~qfed.randomness.RandomSource`.
        """
        if not global_params:
            raise InvalidConfig("global_params is empty; pass the tensors that travel")
        glob = {k: np.asarray(v) for k, v in global_params.items()}
        for i, params in enumerate(client_params_list):
            if set(params) != set(glob):
                missing = sorted(set(glob) - set(params))
                extra = sorted(set(params) - set(glob))
                raise InvalidConfig(
                    f"client_params_list[{i}] keys differ from global_params "
                    f"(missing {missing}, unexpected {extra}); send exactly the global tensors"
                )
            for key, value in params.items():
                if np.shape(value) != glob[key].shape:
                    raise InvalidConfig(
                        f"client_params_list[{i}][{key!r}] has shape {np.shape(value)}, "
                        f"global_params has {glob[key].shape}; shapes must match"
                    )
        source = random_source(rng)

        # Validate all inputs (above) and clip (below) before accounting, so a malformed
        # round is refused without spending budget; nothing is released until noise is added.
        total = {k: np.zeros(v.shape, dtype=np.float64) for k, v in glob.items()}
        for params in client_params_list:
            diff = {k: np.asarray(params[k], dtype=np.float64) - glob[k] for k in glob}
            clipped, _ = self.clip(diff)
            for k in total:
                total[k] += clipped[k]
        self.step()
        std = self.noise_std
        out: dict[str, np.ndarray] = {}
        for k, g in glob.items():
            mean = total[k] / self.clients_per_round
            if std > 0:
                mean = mean + source.gaussian(mean.shape, std)
            dtype = g.dtype if np.issubdtype(g.dtype, np.floating) else np.float64
            out[k] = (g.astype(np.float64) + mean).astype(dtype)
        return out

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """A plain, JSON-able snapshot: settings plus the accountant's history."""
        return {
            "version": _STATE_VERSION,
            "clip_norm": self.clip_norm,
            "noise_multiplier": self.noise_multiplier,
            "clients_per_round": self.clients_per_round,
            "total_clients": self.total_clients,
            "delta": self.delta,
            "accountant": self.accountant_name,
            "amplification": self.amplification,
            "target_epsilon": self.target_epsilon,
            "max_rounds": self.max_rounds,
            "history": [[float(z), float(q), int(n)] for z, q, n in self._accountant.history],
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> ClientLevelDP:
        """Rebuild from :meth:`state_dict`, rounds and spent budget included."""
        if state.get("version") != _STATE_VERSION:
            raise InvalidConfig(
                f"state version {state.get('version')!r} is not {_STATE_VERSION}; "
                "the checkpoint was written by another qfed version"
            )
        try:
            obj = cls(
                state["clip_norm"],
                state["noise_multiplier"],
                state["clients_per_round"],
                state["total_clients"],
                state["delta"],
                state["accountant"],
                amplification=state["amplification"],
                target_epsilon=state["target_epsilon"],
                max_rounds=state["max_rounds"],
            )
            history = [(float(z), float(q), int(n)) for z, q, n in state["history"]]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidConfig):
                raise
            raise InvalidConfig(
                f"state is not a ClientLevelDP.state_dict() ({exc!r}); pass what it returned"
            ) from exc
        obj._accountant.history = history
        return obj

    def __repr__(self) -> str:
        return (
            f"ClientLevelDP(clip_norm={self.clip_norm}, noise_multiplier="
            f"{self.noise_multiplier:.4g}, clients_per_round={self.clients_per_round}, "
            f"total_clients={self.total_clients}, delta={self.delta:g}, "
            f"accountant={self.accountant_name!r}, amplification={self.amplification}, "
            f"rounds={self.rounds})"
        )
