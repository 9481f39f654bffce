"""Client selection for a federated round: K clients chosen by a QUBO, greedily, or at random.

Each client is described by a :class:`ClientProfile` (data size, label counts, privacy budget,
availability, round time, how often it was picked). Clients that cannot take part are removed
first, with a reason each (``Selection.excluded``):

* ``available=False``;
* privacy: ``epsilon_budget - epsilon_spent < epsilon_per_round`` (or nothing left at all);
  a round would break the client's guarantee, so this is hard, for every method;
* deadline: ``round_time_s > deadline_s`` (an unknown round time is not excluded).

Among the ``n`` eligible clients, with ``k`` the number to pick (``min(k, n)``), the chosen set
``S`` maximises (:func:`score_selection` computes it; all three methods are scored by it)::

    F(S) = (1/k) * sum_{i in S} r_i  -  w_balance * B(S)  -  w_redundancy * R(S)

    r_i  = w_size * n_i / max_j n_j          data size (normalised)
         + w_fairness * a_i * k / n            a_i = rounds_waiting: grows every round a
                                              client waits, so nobody starves
         + w_privacy * (e_i - eps) / E_i      budget fraction left after the round (inf: 1)
         - w_time * tau_i / max_j tau_j       round time (unknown: median of the known ones)

    B(S) = k * || sum_{i in S} (c_i - m_i g) ||^2 / (N_ref^2 * G)
    R(S) = 2 / (k (k - 1)) * sum_{i < j in S} cos(c_i, c_j)

where ``c_i`` are client ``i``'s label counts, ``m_i = sum(c_i)``, ``g`` the label distribution
pooled over all clients (the target), ``N_ref = k * mean_i m_i`` (eligible clients) and
``G = 1 - ||g||^2`` (Gini impurity of ``g``). ``B`` is the squared distance between the
selected set's pooled label distribution and the global one, ``||q_S - g||^2``, exactly when
the set holds ``N_ref`` examples (then ``sum (c_i - m_i g) = N_ref (q_S - g)``), scaled by
``k / G`` so that ``k`` equal-sized single-class clients drawn at random score about 1 whatever
``k``, IID clients about 0, and a perfectly balanced set 0. Expanding the square gives a linear
part ``||c_i - m_i g||^2`` (a skewed client costs) and a pairwise part
``2 (c_i - m_i g).(c_j - m_j g)``: two clients skewed the same way are penalised, two that
complement each other (their deviations point in opposite directions) are rewarded, which is
what makes the union of their labels balanced. ``R`` is a plain redundancy penalty: the mean
cosine similarity of the chosen label distributions.

``F`` is quadratic in the indicator ``x_i`` of ``i in S``, so ``-F`` is a BQM
(:func:`build_selection_bqm`) to which ``qcore.constraints.exactly_k`` adds ``sum x = k``.
The penalty weight is ``P = 1.5 * max_i (|h_i| + sum_j |J_ij|) + 1e-6`` (``h``, ``J``: the
objective's biases), not ``qcore.constraints.auto_penalty``: with ``P`` above the largest
change one flip can make to the objective, every assignment with ``|S| = k +- m`` has a single
flip towards ``k`` that lowers the energy, so every local minimum under single flips (and so
every ground state) is feasible, and the landscape stays smooth for annealers.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import dimod
import numpy as np
import qcore
from qcore.constraints import exactly_k

from qfed.errors import InvalidConfig

__all__ = [
    "ClientProfile",
    "Selection",
    "SelectionWeights",
    "build_selection_bqm",
    "compare_selection_methods",
    "label_distance",
    "score_selection",
    "select_clients",
]

logger = logging.getLogger(__name__)

ClientId = str | int
Method = Literal["qubo", "random", "greedy"]
METHODS = ("qubo", "random", "greedy")

#: objective differences below this are ties (floating-point noise in the BQM energies)
TIE_TOL = 1e-9


# --------------------------------------------------------------------------- argument checks


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidConfig(f"{name}: expected a number, got {type(value).__name__} ({value!r}).")
    number = float(value)
    if math.isnan(number):
        raise InvalidConfig(f"{name}: is NaN; pass a real number.")
    return number


def _non_negative(value: object, name: str, *, allow_inf: bool = False) -> float:
    number = _real(value, name)
    if number < 0 or (math.isinf(number) and not allow_inf):
        limit = "a number >= 0 (inf allowed)" if allow_inf else "a finite number >= 0"
        raise InvalidConfig(f"{name}: is {number}; it must be {limit}.")
    return number


def _integer(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidConfig(f"{name}: expected an integer, got {type(value).__name__} ({value!r}).")
    if int(value) < minimum:
        raise InvalidConfig(f"{name}: is {int(value)}; it must be >= {minimum}.")
    return int(value)


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True, eq=False)  # eq=False: identity equality, since numpy arrays have no ==
class ClientProfile:
    """What the server knows about one client when it picks a round's participants.

    ``label_counts`` holds examples per class (a read-only float copy is kept).
    ``round_time_s`` is the estimated compute + communication time of one round
    (``None``: unknown). Values are checked at construction (``InvalidConfig``).
    """

    client_id: ClientId
    num_examples: int
    label_counts: np.ndarray
    epsilon_spent: float = 0.0
    epsilon_budget: float = math.inf
    available: bool = True
    round_time_s: float | None = None
    times_selected: int = 0
    #: rounds since this client last took part (or since the run began): the fairness term
    rounds_waiting: int = 0

    def __post_init__(self) -> None:
        cid = self.client_id
        if isinstance(cid, bool) or not isinstance(cid, str | numbers.Integral):
            raise InvalidConfig(
                f"client_id: expected a str or int, got {type(cid).__name__} ({cid!r})."
            )
        if isinstance(cid, numbers.Integral) and not isinstance(cid, int):
            object.__setattr__(self, "client_id", int(cid))  # numpy ints -> int: stable labels
        where = f"client {self.client_id!r}"
        _integer(self.num_examples, f"num_examples ({where})", 0)
        try:
            counts = np.array(self.label_counts, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidConfig(
                f"label_counts ({where}): expected a 1-D array of per-class counts, got "
                f"{type(self.label_counts).__name__}."
            ) from None
        if counts.ndim != 1 or counts.size == 0:
            raise InvalidConfig(
                f"label_counts ({where}): has shape {counts.shape}; pass a non-empty 1-D array "
                "with one count per class."
            )
        if not np.all(np.isfinite(counts)):
            raise InvalidConfig(f"label_counts ({where}): holds NaN or inf; counts must be finite.")
        if np.any(counts < 0):
            raise InvalidConfig(
                f"label_counts ({where}): holds negative counts {counts[counts < 0].tolist()}; "
                "counts must be >= 0."
            )
        counts.setflags(write=False)
        object.__setattr__(self, "label_counts", counts)
        spent = _non_negative(self.epsilon_spent, f"epsilon_spent ({where})")
        budget = _non_negative(self.epsilon_budget, f"epsilon_budget ({where})", allow_inf=True)
        if budget <= 0:
            raise InvalidConfig(
                f"epsilon_budget ({where}): is {budget}; it must be > 0 (inf: no limit)."
            )
        object.__setattr__(self, "epsilon_spent", spent)
        object.__setattr__(self, "epsilon_budget", budget)
        if not isinstance(self.available, bool | np.bool_):
            raise InvalidConfig(
                f"available ({where}): expected a bool, got {type(self.available).__name__}."
            )
        if self.round_time_s is not None:
            object.__setattr__(
                self, "round_time_s", _non_negative(self.round_time_s, f"round_time_s ({where})")
            )
        _integer(self.times_selected, f"times_selected ({where})", 0)
        _integer(self.rounds_waiting, f"rounds_waiting ({where})", 0)

    @property
    def epsilon_remaining(self) -> float:
        """``epsilon_budget - epsilon_spent`` (``inf`` without a budget)."""
        return self.epsilon_budget - self.epsilon_spent


@dataclass(frozen=True)
class SelectionWeights:
    """Weights of the selection objective ``F`` (see the module docstring). All ``>= 0``.

    The defaults make the label balance and the data size the main drivers: on Dirichlet
    (alpha = 0.5) label-skewed clients they cut the distance between the round's pooled label
    distribution and the global one well below a random draw's while favouring large clients.
    Time, fairness and privacy are tie-breakers unless raised.
    """

    size: float = 1.0  # data size, n_i / max n
    balance: float = 4.0  # label balance / coverage of the union (B)
    redundancy: float = 0.25  # mean pairwise cosine similarity of label distributions (R)
    time: float = 0.25  # round time, tau_i / max tau
    # rounds waited, in units of the fair rotation period n/k: a client that waited two
    # periods gains 2 x fairness in reward, more than the whole size term (at most 1)
    fairness: float = 1.0
    privacy: float = 0.1  # budget fraction left after the round

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _non_negative(getattr(self, f.name), f"weights.{f.name}")
            object.__setattr__(self, f.name, value)


@dataclass(frozen=True)
class Selection:
    """The clients chosen for a round, and how.

    ``objective``: ``F`` of the chosen set (same function for every method, so comparable).
    ``solver``: the qcore solver whose answer was used (``None`` for random/greedy, or when
    the qubo path fell back to greedy). ``excluded``: client id -> reason. ``notes``: what
    happened along the way (fewer eligible than ``k``, repairs, fallbacks).
    ``replaced_by_greedy``: the qubo path returned greedy's set, because the solver failed or
    its answer scored lower than greedy's.
    """

    selected: list[ClientId]
    method: str
    objective: float
    solver: str | None
    wall_s: float
    excluded: dict[ClientId, str] = field(default_factory=dict)
    k: int = 0
    proven_optimal: bool = False
    replaced_by_greedy: bool = False
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Model:
    """``F(S) = -(sum_{i in S} h_i + sum_{i<j in S} J_ij)`` over the eligible clients."""

    ids: list[ClientId]
    k: int
    h: np.ndarray  # (n,) energy per client
    J: np.ndarray  # (n, n) symmetric, zero diagonal

    def objective(self, chosen: Sequence[int]) -> float:
        idx = np.asarray(chosen, dtype=np.int64)
        if idx.size == 0:
            return 0.0
        return -float(self.h[idx].sum() + 0.5 * self.J[np.ix_(idx, idx)].sum())

    def greedy(self) -> list[int]:
        """Add the client with the best marginal gain, ``k`` times (ties: earlier client)."""
        n = len(self.ids)
        chosen: list[int] = []
        cost = self.h.copy()  # energy added by each client given the chosen ones
        free = np.ones(n, dtype=bool)
        for _ in range(self.k):
            pick = int(np.argmin(np.where(free, cost, np.inf)))
            chosen.append(pick)
            free[pick] = False
            cost = cost + self.J[pick]
        return chosen

    def repair(self, chosen: list[int]) -> list[int]:
        """Bring a set to exactly ``k`` members by best single removals / additions."""
        chosen = list(dict.fromkeys(chosen))
        while len(chosen) > self.k:
            # drop the member whose removal raises F most
            idx = np.asarray(chosen)
            contribution = self.h[idx] + self.J[np.ix_(idx, idx)].sum(axis=1)
            chosen.pop(int(np.argmax(contribution)))
        while len(chosen) < self.k:
            cost = self.h + (self.J[chosen].sum(axis=0) if chosen else 0.0)
            cost[chosen] = np.inf
            chosen.append(int(np.argmin(cost)))
        return chosen


def _global_distribution(profiles: Sequence[ClientProfile]) -> np.ndarray:
    total = np.sum([p.label_counts for p in profiles], axis=0)
    mass = total.sum()
    return total / mass if mass > 0 else np.full(total.size, 1.0 / total.size)


def _check_profiles(profiles: object) -> list[ClientProfile]:
    if isinstance(profiles, ClientProfile) or not isinstance(profiles, Sequence):
        raise InvalidConfig(
            f"profiles: expected a sequence of ClientProfile, got {type(profiles).__name__}."
        )
    items = list(profiles)
    if not items:
        raise InvalidConfig("profiles: is empty; pass at least one ClientProfile.")
    for i, p in enumerate(items):
        if not isinstance(p, ClientProfile):
            raise InvalidConfig(f"profiles[{i}]: expected a ClientProfile, got {type(p).__name__}.")
    seen: set[ClientId] = set()
    for p in items:
        if p.client_id in seen:
            raise InvalidConfig(
                f"client_id: {p.client_id!r} appears twice in profiles; give each client its "
                "own id."
            )
        seen.add(p.client_id)
    sizes = {p.label_counts.size for p in items}
    if len(sizes) > 1:
        first = items[0]
        odd = next(p for p in items if p.label_counts.size != first.label_counts.size)
        raise InvalidConfig(
            f"label_counts: client {first.client_id!r} has {first.label_counts.size} classes "
            f"but client {odd.client_id!r} has {odd.label_counts.size}; every client needs one "
            "count per class of the same label set (pad missing classes with 0)."
        )
    return items


def _check_k(k: object, n: int) -> int:
    count = _integer(k, "k", 1)
    if count > n:
        raise InvalidConfig(f"k: is {count} but there are only {n} clients; use 1 <= k <= {n}.")
    return count


def _check_round_args(epsilon_per_round: object, deadline_s: object) -> tuple[float, float | None]:
    eps = _non_negative(epsilon_per_round, "epsilon_per_round")
    if deadline_s is None:
        return eps, None
    deadline = _real(deadline_s, "deadline_s")
    if not math.isfinite(deadline) or deadline <= 0:
        raise InvalidConfig(
            f"deadline_s: is {deadline}; pass a positive number of seconds, or None for none."
        )
    return eps, deadline


def _eligibility(
    profiles: Sequence[ClientProfile], epsilon_per_round: float, deadline_s: float | None
) -> tuple[list[ClientProfile], dict[ClientId, str]]:
    eligible: list[ClientProfile] = []
    excluded: dict[ClientId, str] = {}
    for p in profiles:
        left = p.epsilon_remaining
        if not p.available:
            excluded[p.client_id] = "unavailable"
        elif left <= 0 or left < epsilon_per_round - 1e-12:
            cost = f", a round costs {epsilon_per_round:.4g}" if epsilon_per_round > 0 else ""
            excluded[p.client_id] = (
                f"privacy budget exhausted: {max(left, 0.0):.4g} of {p.epsilon_budget:.4g} "
                f"left{cost}"
            )
        elif deadline_s is not None and p.round_time_s is not None and p.round_time_s > deadline_s:
            excluded[p.client_id] = (
                f"over the deadline: round time {p.round_time_s:.4g}s > {deadline_s:.4g}s"
            )
        else:
            eligible.append(p)
    return eligible, excluded


def _build_model(
    all_profiles: Sequence[ClientProfile],
    eligible: Sequence[ClientProfile],
    k: int,
    weights: SelectionWeights,
    epsilon_per_round: float,
) -> _Model:
    n = len(eligible)
    classes = all_profiles[0].label_counts.size
    counts = np.array([p.label_counts for p in eligible], dtype=np.float64).reshape(n, classes)
    sizes = np.array([p.num_examples for p in eligible], dtype=np.float64)
    g = _global_distribution(all_profiles)

    # per-client reward r_i (module docstring), each part in [0, 1]
    size = sizes / sizes.max() if n and sizes.max() > 0 else np.zeros(n)
    # the wait in units of the rotation period n/k of a perfectly fair schedule
    period = max(len(all_profiles), 1) / max(k, 1)
    fair = np.array([p.rounds_waiting / period for p in eligible])
    privacy = np.array(
        [
            1.0
            if math.isinf(p.epsilon_budget)
            else max(0.0, p.epsilon_remaining - epsilon_per_round) / p.epsilon_budget
            for p in eligible
        ]
    )
    known = [p.round_time_s for p in eligible if p.round_time_s is not None]
    if known and max(known) > 0:
        # unknown times get the median of the known ones: neither rewarded nor punished much
        fill = float(np.median(known))
        times = np.array([fill if p.round_time_s is None else p.round_time_s for p in eligible])
        slowness = times / max(known)
    else:
        slowness = np.zeros(n)
    reward = (
        weights.size * size
        + weights.fairness * fair
        + weights.privacy * privacy
        - weights.time * slowness
    )
    h = -reward / k
    J = np.zeros((n, n))

    # balance B(S) = k ||sum_{i in S} u_i||^2 / (N_ref^2 G), u_i = c_i - m_i g
    mass = counts.sum(axis=1)
    n_ref = k * float(mass.mean()) if n else 0.0
    gini = 1.0 - float(g @ g)
    if weights.balance > 0 and n_ref > 0 and gini > 1e-12:
        u = counts - mass[:, None] * g[None, :]
        gram = (u @ u.T) * (weights.balance * k / (n_ref**2 * gini))
        h = h + np.diag(gram)
        J = J + 2.0 * gram

    # redundancy R(S) = 2 / (k (k-1)) sum_{i<j} cos(c_i, c_j)
    if weights.redundancy > 0 and k >= 2:
        norms = np.linalg.norm(counts, axis=1)
        safe = np.where(norms > 0, norms, 1.0)[:, None]  # an all-zero client is similar to none
        unit = counts / safe
        J = J + (unit @ unit.T) * (weights.redundancy * 2.0 / (k * (k - 1)))

    np.fill_diagonal(J, 0.0)
    J = 0.5 * (J + J.T)  # exact symmetry despite rounding
    return _Model([p.client_id for p in eligible], k, h, J)


def _prepare(
    profiles: Sequence[ClientProfile],
    k: int,
    weights: SelectionWeights | None,
    epsilon_per_round: float,
    deadline_s: float | None,
) -> tuple[_Model, dict[ClientId, str], int, list[str]]:
    items = _check_profiles(profiles)
    count = _check_k(k, len(items))
    if weights is None:
        weights = SelectionWeights()
    elif not isinstance(weights, SelectionWeights):
        raise InvalidConfig(
            f"weights: expected a SelectionWeights (or None for defaults), got "
            f"{type(weights).__name__}."
        )
    eps, deadline = _check_round_args(epsilon_per_round, deadline_s)
    eligible, excluded = _eligibility(items, eps, deadline)
    notes: list[str] = []
    k_eff = min(count, len(eligible))
    if k_eff < count:
        message = (
            f"only {len(eligible)} of {len(items)} clients are eligible, fewer than k={count}: "
            f"selecting all {len(eligible)} ({len(excluded)} excluded: "
            f"{_summarise(excluded)})"
        )
        logger.warning(message)
        notes.append(message)
    model = _build_model(items, eligible, max(k_eff, 1), weights, eps)
    return model, excluded, count, notes


def _summarise(excluded: dict[ClientId, str]) -> str:
    kinds: dict[str, int] = {}
    for reason in excluded.values():
        kind = reason.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items()) or "none"


# --------------------------------------------------------------------------- public API


def build_selection_bqm(
    profiles: Sequence[ClientProfile],
    k: int,
    weights: SelectionWeights | None = None,
    *,
    epsilon_per_round: float = 0.0,
    deadline_s: float | None = None,
) -> tuple[dimod.BinaryQuadraticModel, list[ClientId]]:
    """The selection QUBO: ``-F`` (module docstring) plus ``exactly_k`` on the eligible clients.

    Variables are the eligible clients' ids (BINARY, 1 = selected); the second value lists
    them in profile order. When fewer than ``k`` clients are eligible the constraint asks for
    all of them (logged as a warning); with none eligible the BQM is empty. The BQM's energy of
    a feasible assignment is exactly ``-F`` of that set.
    """
    model, _, _, _ = _prepare(profiles, k, weights, epsilon_per_round, deadline_s)
    return _to_bqm(model), list(model.ids)


def _to_bqm(model: _Model) -> dimod.BinaryQuadraticModel:
    bqm = dimod.BinaryQuadraticModel(dimod.BINARY)
    if not model.ids:
        return bqm
    bqm.add_variables_from(zip(model.ids, model.h.tolist(), strict=True))
    rows, cols = np.nonzero(np.triu(model.J, 1))
    bqm.add_quadratic_from(
        (model.ids[i], model.ids[j], float(model.J[i, j])) for i, j in zip(rows, cols, strict=True)
    )
    # tight penalty (module docstring): above the largest change one flip makes to -F
    flip = float(np.max(np.abs(model.h) + np.abs(model.J).sum(axis=1)))
    bqm.update(exactly_k(model.ids, model.k, strength=1.5 * flip + 1e-6))
    return bqm


def score_selection(
    profiles: Sequence[ClientProfile],
    selected: Sequence[ClientId],
    k: int | None = None,
    weights: SelectionWeights | None = None,
    *,
    epsilon_per_round: float = 0.0,
    deadline_s: float | None = None,
) -> float:
    """``F`` of ``selected`` under the same model the selection methods use.

    ``k`` defaults to ``len(selected)``. Every selected id must be an eligible client.
    """
    chosen = list(selected)
    model, excluded, _, _ = _prepare(
        profiles, len(chosen) if k is None else k, weights, epsilon_per_round, deadline_s
    )
    index = {cid: i for i, cid in enumerate(model.ids)}
    positions = []
    for cid in chosen:
        if cid not in index:
            why = excluded.get(cid, "not among the profiles")
            raise InvalidConfig(f"selected: client {cid!r} cannot be scored ({why}).")
        positions.append(index[cid])
    return model.objective(positions)


def label_distance(profiles: Sequence[ClientProfile], selected: Sequence[ClientId]) -> float:
    """Total-variation distance between the selected clients' pooled label distribution and
    the distribution pooled over all ``profiles`` (0: identical, 1: disjoint)."""
    items = _check_profiles(profiles)
    by_id = {p.client_id: p for p in items}
    missing = [cid for cid in selected if cid not in by_id]
    if missing:
        raise InvalidConfig(f"selected: unknown client ids {missing!r}.")
    if not selected:
        raise InvalidConfig("selected: is empty; pass at least one client id.")
    g = _global_distribution(items)
    q = _global_distribution([by_id[cid] for cid in selected])
    return 0.5 * float(np.abs(q - g).sum())


def _seed_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InvalidConfig(
            f"seed: expected an int, a numpy Generator or None, got {type(seed).__name__}."
        )
    return np.random.default_rng(seed)


def select_clients(
    profiles: Sequence[ClientProfile],
    k: int,
    *,
    method: Method = "qubo",
    weights: SelectionWeights | None = None,
    seed: int | np.random.Generator | None = None,
    solver: str = "auto",
    time_limit: float = 1.0,
    epsilon_per_round: float = 0.0,
    deadline_s: float | None = None,
) -> Selection:
    """Choose ``k`` clients for a round.

    ``method``:

    * ``"random"``: uniform over the eligible clients (FedAvg's sampling). FedAvg itself
      ignores privacy budgets; here clients that cannot afford ``epsilon_per_round`` are still
      excluded, as are unavailable and over-deadline ones, so the baseline never breaks a
      guarantee.
    * ``"greedy"``: add the client with the best marginal gain in ``F``, ``k`` times.
    * ``"qubo"``: solve :func:`build_selection_bqm` with ``qcore.solve(solver=...)`` (``auto``
      enumerates up to 20 clients, anneals beyond), with ``sa`` as fallback; an infeasible
      answer is repaired to ``k`` members; if every solver fails (logged warning) or the
      answer scores below greedy's, greedy's set is returned and ``replaced_by_greedy`` set.

    ``seed`` (int or Generator) drives the random draw and the solver. All methods report
    ``F`` of their set (:func:`score_selection`), so they can be compared. Fewer eligible
    clients than ``k``: all of them are selected, with a logged warning and a note.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise InvalidConfig(f"method: is {method!r}; use one of {', '.join(METHODS)}.")
    if not isinstance(solver, str):
        raise InvalidConfig(f"solver: expected a qcore solver name (str), got {solver!r}.")
    limit = _real(time_limit, "time_limit")
    if not math.isfinite(limit) or limit <= 0:
        raise InvalidConfig(f"time_limit: is {limit}; pass a positive number of seconds.")
    rng = _seed_rng(seed)
    model, excluded, count, notes = _prepare(profiles, k, weights, epsilon_per_round, deadline_s)
    n = len(model.ids)

    def done(chosen: list[int], solver_name: str | None = None, **extra: bool) -> Selection:
        return Selection(
            selected=[model.ids[i] for i in sorted(chosen)],  # profile order, for every method
            method=method,
            objective=model.objective(chosen),
            solver=solver_name,
            wall_s=time.perf_counter() - start,
            excluded=excluded,
            k=count,
            notes=notes,
            **extra,
        )

    if n <= model.k:  # nothing to choose: take every eligible client
        return done(list(range(n)))
    if method == "random":
        return done(rng.choice(n, size=model.k, replace=False).tolist())
    greedy = model.greedy()
    if method == "greedy":
        return done(greedy)

    bqm = _to_bqm(model)
    solver_seed = int(rng.integers(2**31 - 1))
    fallback = () if solver == "sa" else ("sa",)
    try:
        result = qcore.solve(
            bqm, solver=solver, fallback=fallback, time_limit=limit, seed=solver_seed
        )
    except qcore.InvalidProblem as exc:  # an unknown solver name or bad parameters: the caller's
        raise InvalidConfig(str(exc)) from exc  # qcore's message names the field already
    except qcore.QcoreError as exc:
        message = f"qcore.solve failed ({exc}); falling back to greedy selection"
        logger.warning(message)
        notes.append(message)
        return done(greedy, replaced_by_greedy=True)

    notes.extend(
        f"solver {a.solver} failed first ({a.error_type}: {a.message})" for a in result.attempts
    )
    sample = result.sample
    chosen = [i for i, cid in enumerate(model.ids) if sample[cid] == 1]
    repaired = len(chosen) != model.k
    if repaired:
        notes.append(
            f"solver {result.solver} returned {len(chosen)} clients instead of {model.k}; "
            "repaired by best single additions/removals"
        )
        chosen = model.repair(chosen)
    value, greedy_value = model.objective(chosen), model.objective(greedy)
    if greedy_value > value + TIE_TOL:
        message = (
            f"solver {result.solver} found F={value:.6g}, below greedy's F={greedy_value:.6g}; "
            "returning greedy's set"
        )
        logger.info(message)
        notes.append(message)
        return done(greedy, replaced_by_greedy=True)
    proven = result.proven_optimal and not repaired
    return done(chosen, result.solver, proven_optimal=proven)


def compare_selection_methods(
    profiles: Sequence[ClientProfile],
    k: int,
    rounds: int = 10,
    seed: int = 0,
    *,
    weights: SelectionWeights | None = None,
    solver: str = "auto",
    time_limit: float = 0.5,
    epsilon_per_round: float = 0.0,
    deadline_s: float | None = None,
) -> dict[str, dict[str, float]]:
    """Run each method for ``rounds`` rounds (no training) and summarise what it picked.

    Between rounds each method's own ``times_selected``, ``rounds_waiting`` and
    ``epsilon_spent`` are updated,
    so fairness and budgets evolve as they would. Per method: mean ``objective``, mean
    ``label_tv`` (:func:`label_distance`), mean ``examples`` per round, ``longest_wait``
    (the most consecutive rounds any client sat out), ``most_picked`` (the largest fraction of
    rounds one client took part in), ``clients_reached``
    (fraction of clients picked at least once), mean ``wall_s``.
    """
    rounds = _integer(rounds, "rounds", 1)
    base = _check_profiles(profiles)
    summary: dict[str, dict[str, float]] = {}
    for offset, method in enumerate(METHODS):
        current = list(base)
        rng = np.random.default_rng([seed, offset])
        objective, tv, examples, wall = [], [], [], []
        reached: set[ClientId] = set()
        waiting = {p.client_id: 0 for p in base}
        longest_wait = 0
        for _ in range(rounds):
            sel = select_clients(
                current,
                k,
                method=method,
                weights=weights,
                seed=rng,
                solver=solver,
                time_limit=time_limit,
                epsilon_per_round=epsilon_per_round,
                deadline_s=deadline_s,
            )
            if not sel.selected:
                break
            chosen = set(sel.selected)
            objective.append(sel.objective)
            tv.append(label_distance(current, sel.selected))
            examples.append(sum(p.num_examples for p in current if p.client_id in chosen))
            wall.append(sel.wall_s)
            reached |= chosen
            for cid in waiting:
                waiting[cid] = 0 if cid in chosen else waiting[cid] + 1
            longest_wait = max(longest_wait, *waiting.values())
            current = [
                dataclasses.replace(
                    p,
                    times_selected=p.times_selected + 1,
                    epsilon_spent=p.epsilon_spent + epsilon_per_round,
                    rounds_waiting=0,
                )
                if p.client_id in chosen
                else dataclasses.replace(p, rounds_waiting=p.rounds_waiting + 1)
                for p in current
            ]
        summary[method] = {
            "objective": float(np.mean(objective)) if objective else math.nan,
            "label_tv": float(np.mean(tv)) if tv else math.nan,
            "examples": float(np.mean(examples)) if examples else 0.0,
            "clients_reached": len(reached) / len(base),
            "longest_wait": float(longest_wait),
            "most_picked": max(
                p.times_selected - b.times_selected for p, b in zip(current, base, strict=True)
            )
            / max(len(objective), 1),
            "wall_s": float(np.mean(wall)) if wall else 0.0,
            "rounds": float(len(objective)),
        }
    return summary
