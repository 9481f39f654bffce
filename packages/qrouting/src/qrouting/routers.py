"""The routers, one interface, chosen by name: ``get_router("balanced").route(problem)``."""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np

from qrouting.assign import Priority, enforce_capacity, refill, top_k_choices
from qrouting.auction import auction_transport
from qrouting.errors import InvalidRouting, RouterFailed, UnknownRouter
from qrouting.exact import solve_transport_lp
from qrouting.plan import RoutingPlan, build_plan
from qrouting.problem import Locality, OnOverflow, RoutingProblem, ScoreKind


class Router(ABC):
    """A routing policy. Options are checked at construction; ``route`` never mutates input."""

    name: ClassVar[str] = ""

    @abstractmethod
    def route(self, problem: RoutingProblem) -> RoutingPlan:
        """Assign the tokens of ``problem`` to experts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidRouting(f"{field}: {value!r}; use one of {', '.join(map(repr, allowed))}.")


def _flag(field: str, value: object) -> bool:
    """A true/false option: ``bool`` only (``"no"`` would otherwise count as True)."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidRouting(f"{field}: {value!r}; pass True or False.")
    return bool(value)


def _check_positive(field: str, value: object, *, integer: bool = False) -> None:
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive integer" if integer else "a positive number"
        raise InvalidRouting(f"{field}: {value!r}; it must be {what}.")


class TopKRouter(Router):
    """Softmax top-k with a hard capacity; overflow is dropped (Switch/GShard behaviour).

    ``priority="position"`` serves tokens in batch order; ``"score"`` serves the most
    confident first (batch priority routing, Riquelme et al. 2021).
    """

    name = "topk"

    def __init__(self, priority: Priority = "position", normalize_gates: bool = False) -> None:
        _check_choice("priority", priority, ("position", "score"))
        self.priority = priority
        self.normalize_gates = _flag("normalize_gates", normalize_gates)

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        value = problem.value
        choices = top_k_choices(value, problem.k)
        prio = np.take_along_axis(value, choices, axis=1)
        idx = enforce_capacity(
            choices, prio, problem.num_experts, problem.capacity, order=self.priority
        )
        return build_plan(
            problem,
            idx,
            self.name,
            {"priority": self.priority},
            normalize_gates=self.normalize_gates,
        )


class ExpertChoiceRouter(Router):
    """Each expert takes its ``C`` highest-affinity tokens (Zhou et al. 2022).

    A token may get more than ``k`` experts or none; the plan's width is the largest count.
    """

    name = "expert_choice"

    def __init__(self, normalize_gates: bool = False) -> None:
        self.normalize_gates = _flag("normalize_gates", normalize_gates)

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        value = problem.value
        T, E = value.shape
        c = min(problem.capacity, T)
        if c >= T:
            picked = np.ones((T, E), dtype=bool)
        else:
            top = np.argpartition(-value, c - 1, axis=0)[:c]  # [c, E] token ids per expert
            picked = np.zeros((T, E), dtype=bool)
            picked[top, np.arange(E)[None, :]] = True
        counts = picked.sum(axis=1)
        width = max(int(counts.max()), 1)
        masked = np.where(picked, value, -np.inf)
        order = np.argsort(-masked, axis=1, kind="stable")[:, :width]
        ok = np.take_along_axis(picked, order, axis=1)
        idx = np.where(ok, order, -1)
        info = {
            "max_experts_per_token": int(counts.max()),
            "tokens_over_k": int((counts > problem.k).sum()),
        }
        return build_plan(problem, idx, self.name, info, normalize_gates=self.normalize_gates)


def sinkhorn_plan(
    log_kernel: np.ndarray,
    row_target: float,
    col_target: float,
    n_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, float]:
    """Balanced soft assignment ``P = diag(u) K diag(v)`` with row sums ``row_target`` and
    column sums ``col_target``. Returns ``(P, iterations, max relative column error)``."""
    K = np.exp(log_kernel - log_kernel.max(axis=1, keepdims=True))
    np.maximum(K, 1e-300, out=K)
    T, E = K.shape
    v = np.ones(E)
    u = np.ones(T)
    err = np.inf
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007
        u = row_target / (K @ v)
        col = K.T @ u
        err = float(np.max(np.abs(col * v - col_target)) / col_target)
        v = col_target / col
        if err < tol:
            break
    return u[:, None] * K * v[None, :], it, err


class SinkhornRouter(Router):
    """Balanced soft assignment by Sinkhorn (S-BASE, Clark et al. 2022), then rounding.

    Rounding takes each token's top-k of the balanced matrix, enforces capacity (most
    confident first) and, with ``refill=True``, gives dropped slots the best expert that
    still has room, so nothing is dropped while total capacity lasts. Gates are the
    original affinities, as in S-BASE.
    """

    name = "sinkhorn"

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-3,
        temperature: float = 1.0,
        refill: bool = True,
        normalize_gates: bool = False,
    ) -> None:
        _check_positive("n_iter", n_iter, integer=True)
        _check_positive("tol", tol)
        _check_positive("temperature", temperature)
        self.n_iter, self.tol, self.temperature = int(n_iter), float(tol), float(temperature)
        self.refill = _flag("refill", refill)
        self.normalize_gates = _flag("normalize_gates", normalize_gates)

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        T, E, k = problem.num_tokens, problem.num_experts, problem.k
        log_kernel = np.log(np.maximum(problem.affinity, 1e-300))
        if problem.locality is not None and problem.locality.cost_per_hop:
            log_kernel = log_kernel - problem.locality.cost_per_hop * problem.locality.hop_matrix()
        log_kernel /= self.temperature
        col = min(T * k / E, float(problem.capacity))
        row = col * E / T
        P, iters, err = sinkhorn_plan(log_kernel, row, col, self.n_iter, self.tol)
        choices = top_k_choices(P, k)
        prio = np.take_along_axis(P, choices, axis=1)
        idx = enforce_capacity(choices, prio, E, problem.capacity, order="score")
        dropped_before = int((idx < 0).sum())
        if self.refill:
            idx = refill(idx, problem.value, problem.capacity)
        info = {
            "iterations": iters,
            "marginal_error": err,
            "refilled": dropped_before - int((idx < 0).sum()),
        }
        return build_plan(problem, idx, self.name, info, normalize_gates=self.normalize_gates)


def _pairs_to_indices(token: np.ndarray, expert: np.ndarray, T: int, k: int) -> np.ndarray:
    """Scatter (token, expert) pairs into ``[T, k]`` (``-1`` where a token has fewer)."""
    order = np.lexsort((expert, token))
    token, expert = token[order], expert[order]
    starts = np.searchsorted(token, token, side="left")
    slot = np.arange(token.size) - starts
    idx = np.full((T, k), -1, dtype=np.int64)
    idx[token, slot] = expert
    return idx


class BalancedRouter(Router):
    """The exact optimum of top-k with hard capacity (a transportation problem).

    Maximises the total routing value (affinity minus locality cost) subject to every token
    getting exactly ``k`` distinct experts and every expert at most ``C`` tokens; when
    ``E * C < T * k`` (``on_overflow="drop"``) every expert is filled to ``C`` and the fewest
    possible assignments are dropped. ``method``:

    - ``"lp"``: HiGHS via ``scipy.optimize.linprog``; proven optimal.
    - ``"auction"``: Bertsekas' auction with eps-scaling; stops when the certified duality gap
      is at most ``rel_tol`` of the objective (``info["certified_gap"]``).
    - ``"auto"``: ``"lp"`` up to ``lp_max_pairs`` token-expert pairs, ``"auction"`` above.
    """

    name = "balanced"

    def __init__(
        self,
        method: Literal["auto", "lp", "auction"] = "auto",
        rel_tol: float = 1e-4,
        lp_max_pairs: int = 20_000,
        time_limit: float | None = None,
        normalize_gates: bool = False,
    ) -> None:
        _check_choice("method", method, ("auto", "lp", "auction"))
        _check_positive("rel_tol", rel_tol)
        _check_positive("lp_max_pairs", lp_max_pairs, integer=True)
        if time_limit is not None:
            _check_positive("time_limit", time_limit)
        self.method, self.rel_tol, self.lp_max_pairs = method, float(rel_tol), int(lp_max_pairs)
        self.time_limit = time_limit
        self.normalize_gates = _flag("normalize_gates", normalize_gates)

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        T, E, k, C = problem.num_tokens, problem.num_experts, problem.k, problem.capacity
        method = self.method
        if method == "auto":
            method = "lp" if self.lp_max_pairs >= T * E else "auction"
        transposed = problem.overflow > 0
        # rows take exactly d columns, columns hold at most cap rows
        V, d, cap = (problem.value.T, C, k) if transposed else (problem.value, k, C)
        info: dict[str, Any] = {"method": method, "transposed": transposed}
        start = time.perf_counter()
        try:
            if method == "lp":
                res = solve_transport_lp(V, d, cap)
                cols, primal = res.cols, res.objective
                info.update(proven_optimal=True, upper_bound=primal, certified_gap=0.0)
            else:
                ares = auction_transport(
                    V, d, cap, rel_tol=self.rel_tol, time_limit=self.time_limit
                )
                cols, primal = ares.cols, ares.primal
                info.update(
                    proven_optimal=False,
                    upper_bound=ares.dual,
                    certified_gap=ares.gap_bound / max(abs(primal), 1e-300),
                    certified_gap_abs=ares.gap_bound,
                    eps=ares.eps,
                    eps_bound=ares.eps_bound,
                    phases=ares.phases,
                    rounds=ares.rounds,
                )
        except (RuntimeError, TimeoutError) as exc:
            raise RouterFailed(f"balanced ({method}) failed: {exc}") from exc
        info["solve_s"] = time.perf_counter() - start
        R = V.shape[0]
        rows = np.repeat(np.arange(R), d)
        if transposed:  # rows are experts, columns tokens
            idx = _pairs_to_indices(cols.ravel(), rows, T, k)
        else:
            idx = _pairs_to_indices(rows, cols.ravel(), T, k)
            # keep each token's experts in descending value, like every other router
        vals = np.where(idx >= 0, problem.value[np.arange(T)[:, None], np.maximum(idx, 0)], -np.inf)
        order = np.argsort(-vals, axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, axis=1)
        plan = build_plan(problem, idx, self.name, info, normalize_gates=self.normalize_gates)
        plan.metrics["certified_gap"] = float(info["certified_gap"])
        return plan


class BiasRouter(Router):
    """Auxiliary-loss-free balancing (DeepSeek-V3): experts are picked by ``affinity + bias``,
    gates use the affinity alone, and after each batch ``bias += gamma * sign(mean - load)``.

    Stateful across batches (``bias`` persists; ``reset()`` clears it). Capacity is still
    enforced (most confident first); set ``capacity_factor`` high to never drop.
    """

    name = "bias"

    def __init__(
        self, gamma: float = 1e-3, update: bool = True, normalize_gates: bool = False
    ) -> None:
        _check_positive("gamma", gamma)
        self.gamma = float(gamma)
        self.update = _flag("update", update)
        self.normalize_gates = _flag("normalize_gates", normalize_gates)
        self.bias: np.ndarray | None = None
        self.steps = 0

    def reset(self) -> None:
        self.bias = None
        self.steps = 0

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        E = problem.num_experts
        if self.bias is None:
            self.bias = np.zeros(E)
        elif self.bias.shape != (E,):
            raise InvalidRouting(
                f"bias: this router has state for {self.bias.shape[0]} experts but the batch "
                f"has {E}; use one BiasRouter per layer or call reset()."
            )
        score = problem.value + self.bias[None, :]
        choices = top_k_choices(score, problem.k)
        prio = np.take_along_axis(score, choices, axis=1)
        idx = enforce_capacity(choices, prio, E, problem.capacity, order="score")
        bias_used = self.bias.copy()
        if self.update:
            loads = np.bincount(idx[idx >= 0], minlength=E)
            self.bias = self.bias + self.gamma * np.sign(loads.mean() - loads)
            self.steps += 1
        info = {"bias": bias_used, "steps": self.steps}
        return build_plan(problem, idx, self.name, info, normalize_gates=self.normalize_gates)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class HashRouter(Router):
    """Deterministic hashing of token ids (Hash Layers, Roller et al. 2021): no scores, no
    solver, never blocks. Token ``t`` goes to ``h(t), h(t)+1, ...`` (mod E); an overflowing
    slot takes the next expert with room (linear probing), so nothing is dropped while total
    capacity lasts. Token ids default to batch positions."""

    name = "hash"

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidRouting(f"seed: {seed!r}; pass a non-negative integer.")
        self.seed = int(seed)

    def route(self, problem: RoutingProblem) -> RoutingPlan:
        T, E, k = problem.num_tokens, problem.num_experts, problem.k
        ids = problem.token_ids if problem.token_ids is not None else np.arange(T)
        h = _splitmix64(ids.astype(np.uint64) ^ np.uint64(self.seed))
        first = (h % np.uint64(E)).astype(np.int64)
        choices = (first[:, None] + np.arange(k)[None, :]) % E
        idx = enforce_capacity(choices, np.zeros((T, k)), E, problem.capacity)
        # probe order: the next experts after the hashed one are preferred
        probe = -((np.arange(E)[None, :] - first[:, None]) % E).astype(np.float64)
        idx = refill(idx, probe, problem.capacity)
        return build_plan(problem, idx, self.name, {"seed": self.seed})


ROUTERS: dict[str, str] = {
    "topk": "qrouting.routers:TopKRouter",
    "expert_choice": "qrouting.routers:ExpertChoiceRouter",
    "sinkhorn": "qrouting.routers:SinkhornRouter",
    "balanced": "qrouting.routers:BalancedRouter",
    "bias": "qrouting.routers:BiasRouter",
    "hash": "qrouting.routers:HashRouter",
    "qubo": "qrouting.qubo:QuboRouter",
    "hybrid": "qrouting.qubo:HybridRouter",
}


def list_routers() -> list[str]:
    return list(ROUTERS)


def get_router(name: str, **options: Any) -> Router:
    """The router registered as ``name``, built with ``options`` (checked at construction)."""
    if name not in ROUTERS:
        raise UnknownRouter(
            f"router: no router named {name!r}; choose one of {', '.join(ROUTERS)}."
        )
    module, attr = ROUTERS[name].split(":")
    cls = getattr(importlib.import_module(module), attr)
    try:
        return cls(**options)
    except TypeError as exc:
        raise InvalidRouting(f"router {name!r}: bad option ({exc}).") from None


def exact_optimum(problem: RoutingProblem, *, candidates: int | None = 16) -> float:
    """The exact optimum of the balanced problem (HiGHS LP with column generation)."""
    T, E, k, C = problem.num_tokens, problem.num_experts, problem.k, problem.capacity
    if problem.overflow:
        res = solve_transport_lp(problem.value.T, C, k, candidates=None)
    else:
        res = solve_transport_lp(
            problem.value, k, C, candidates=None if T * E <= 200_000 else candidates
        )
    return res.objective


def route(
    scores: Any,
    router: str | Router = "topk",
    k: int = 1,
    capacity_factor: float = 1.0,
    *,
    capacity: int | None = None,
    scores_are: ScoreKind = "logits",
    on_overflow: OnOverflow = "drop",
    locality: Locality | None = None,
    token_ids: Any = None,
    compare_exact: bool = False,
    **options: Any,
) -> RoutingPlan:
    """Route ``scores`` (``[T, E]`` logits or affinities, numpy or torch) with ``router``.

    ``router`` is a name (options go to its constructor) or a :class:`Router` instance
    (keep one ``BiasRouter`` across batches). ``compare_exact=True`` also solves the exact
    optimum (HiGHS) and adds ``optimum`` and ``gap_to_optimum`` to the metrics.
    """
    if isinstance(scores, RoutingProblem):
        problem = scores
    else:
        problem = RoutingProblem.from_scores(
            scores,
            k,
            capacity_factor,
            capacity=capacity,
            scores_are=scores_are,
            on_overflow=on_overflow,
            locality=locality,
            token_ids=token_ids,
        )
    if isinstance(router, Router):
        if options:
            raise InvalidRouting(
                f"options {sorted(options)} given with a Router instance; set them when "
                "building the router instead."
            )
        policy = router
    else:
        policy = get_router(router, **options)
    start = time.perf_counter()
    plan = policy.route(problem)
    plan.info["wall_s"] = time.perf_counter() - start
    if compare_exact:
        opt = exact_optimum(problem)
        plan.metrics["optimum"] = opt
        plan.metrics["gap_to_optimum"] = (opt - plan.metrics["objective"]) / max(abs(opt), 1e-300)
    return plan
