"""The auction algorithm for k-choice routing with capacities (a transportation problem).

Problem: rows (tokens) each take exactly ``d`` distinct columns (experts); column ``c`` holds
at most ``cap`` rows; maximise the total value ``sum V[r, c]`` of the chosen pairs.

This is Bertsekas' auction with epsilon-scaling, vectorised in numpy (Jacobi bidding: every
unassigned unit bids in the same round). Each column is ``cap`` "similar objects" (slots);
a bidder sees the price of a column as the price of its cheapest slot. A row missing ``m``
units bids for its best ``m`` columns not yet held, each at ``price + (v_c - v_{m+1}) + eps``,
which leaves every row eps-happy (eps-complementary slackness). When there is more room
than demand (``R * d < N * cap``), dummy units of value 0 fill the spare slots; they may sit
several in one column and always bid for the globally cheapest slots. That makes the problem
square, so eps-scaling may carry prices from phase to phase.

The result is certified by weak LP duality: for any prices ``q >= 0``,
``D(q) = sum_r topd(V[r] - q) + cap * sum(q)`` bounds the optimum from above, so
``D(q) - primal`` bounds the gap to the exact optimum. eps-CS alone gives
``optimum - primal <= R * d * eps``; both are reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

# below this many free units, bid one at a time (eviction chains are sequential anyway)
_SEQUENTIAL_BELOW = 8


@dataclass(frozen=True)
class AuctionResult:
    cols: np.ndarray  # [R, d] column of each row's units, row order of V
    prices: np.ndarray  # [N] column prices, normalised so min(prices) == 0
    primal: float  # total value of the assignment
    dual: float  # D(prices), an upper bound of the optimum
    eps: float  # final epsilon
    phases: int
    rounds: int
    wall_s: float

    @property
    def gap_bound(self) -> float:
        """Certified upper bound on ``optimum - primal`` (the duality gap, never negative)."""
        return max(0.0, self.dual - self.primal)

    @property
    def eps_bound(self) -> float:
        """The a-priori bound from eps-complementary slackness: ``units * eps``."""
        return float(self.cols.size * self.eps)


def dual_bound(V: np.ndarray, d: int, cap: int, prices: np.ndarray) -> float:
    """``D(q) = sum_r topd(V[r] - q) + cap * sum(q)`` with ``q = prices - min(prices) >= 0``."""
    q = np.asarray(prices, dtype=np.float64)
    q = q - q.min()
    net = V - q[None, :]
    return float(_topd_sum(net, d).sum() + cap * q.sum())


def _topd_sum(net: np.ndarray, d: int) -> np.ndarray:
    """Per row, the sum of its ``d`` largest entries (``net`` is left unchanged)."""
    N = net.shape[1]
    if d >= N:
        return net.sum(axis=1)
    if d <= 4:
        work = net.copy()
        rows = np.arange(net.shape[0])
        total = np.zeros(net.shape[0])
        for _ in range(d):
            best = np.argmax(work, axis=1)
            total += work[rows, best]
            work[rows, best] = -np.inf
        return total
    return -np.partition(-net, d - 1, axis=1)[:, :d].sum(axis=1)


def auction_transport(
    V: np.ndarray,
    d: int,
    cap: int,
    *,
    rel_tol: float = 1e-4,
    eps_final: float | None = None,
    factor: float = 6.0,
    max_rounds: int = 200_000,
    time_limit: float | None = None,
) -> AuctionResult:
    """Near-exact (certified) solution of the k-choice transportation problem by auction.

    ``V`` is ``[R, N]`` (rows choose ``d`` distinct columns, each column takes at most
    ``cap`` rows); ``R * d <= N * cap`` is required. ``eps_final`` defaults to
    ``rel_tol * scale / (R * d)`` with ``scale`` the unconstrained top-d total (or the value
    range when that is not positive), so the eps-CS bound is at most ``rel_tol`` of the scale.
    """
    start = time.perf_counter()
    V = np.ascontiguousarray(V, dtype=np.float64)
    R, N = V.shape
    if not (1 <= d <= N):
        raise ValueError(f"d={d} must be in 1..{N}")
    units_real = R * d
    slots = N * cap
    if units_real > slots:
        raise ValueError(f"demand {units_real} exceeds capacity {slots}")
    S = slots - units_real  # dummy units
    vmax, vmin = float(V.max()), float(V.min())
    span = max(vmax - vmin, 1e-12)
    if eps_final is None:
        unconstrained = float(_topd_sum(V, d).sum())
        scale = abs(unconstrained) if unconstrained != 0 else span * units_real
        eps_final = max(rel_tol * scale / units_real / 100.0, 1e-12 * span)
    # start at the typical bid increment (gap between the d-th and (d+1)-th best value of a
    # row, on a sample): larger epsilons only buy phases that change nothing
    if d < N:
        sample = -np.sort(-V[: min(R, 4096)], axis=1)
        typical = float(np.mean(sample[:, d - 1] - sample[:, d]))
    else:
        typical = span
    eps = max(min(span / 4.0, max(typical, 0.0)), eps_final)
    big = 2.0 * span + 1.0  # increment used when a row has no (m+1)-th option

    price = np.zeros(N)
    slot_bid = np.zeros((N, cap))
    slot_unit = np.full((N, cap), -1, dtype=np.int64)
    unit_col = np.full(units_real + S, -1, dtype=np.int64)
    real_cols = unit_col[:units_real].reshape(R, d)  # a view
    rows_all = np.arange(R)
    all_units = np.arange(units_real + S)
    phases = 0
    rounds = 0
    free = all_units
    while True:
        phases += 1
        while free.size:
            if free.size <= _SEQUENTIAL_BELOW:
                rounds += _sequential(
                    free, V, d, cap, eps, big, units_real, slot_bid, slot_unit, unit_col, price
                )
                break
            rounds += 1
            if rounds > max_rounds:
                raise RuntimeError(f"auction did not converge in {max_rounds} rounds")
            if time_limit is not None and time.perf_counter() - start > time_limit:
                raise TimeoutError(f"auction ran past its time limit of {time_limit} s")
            cols_l: list[np.ndarray] = []
            bids_l: list[np.ndarray] = []
            units_l: list[np.ndarray] = []
            free_real = free[free < units_real]
            if free_real.size:
                bidders = np.unique(free_real // d)
                held = real_cols[bidders]
                missing = held < 0
                mc = missing.sum(axis=1)
                net = V[bidders] - price[None, :]
                hr, hc = np.nonzero(~missing)
                net[hr, held[hr, hc]] = -np.inf
                for m in np.unique(mc):
                    m = int(m)
                    sel = np.nonzero(mc == m)[0] if m != mc[0] or mc.min() != mc.max() else None
                    sub = net if sel is None else net[sel]
                    top_cols, top_vals, nxt = _top_m(sub, m, big)
                    bid = price[top_cols] + (top_vals - nxt[:, None]) + eps
                    rows_m = bidders if sel is None else bidders[sel]
                    miss_m = missing if sel is None else missing[sel]
                    rr, jj = np.nonzero(miss_m)
                    cols_l.append(top_cols.ravel())
                    bids_l.append(bid.ravel())
                    units_l.append(rows_m[rr] * d + jj)
            free_dummies = free[free >= units_real]
            D = free_dummies.size
            if D:
                flat = slot_bid.ravel()
                if flat.size > D:
                    part = np.argpartition(flat, D)
                    cheapest, threshold = part[:D], flat[part[D]]
                else:
                    cheapest, threshold = np.arange(flat.size), flat.max() + span
                cols_l.append(cheapest // cap)
                bids_l.append(np.full(D, threshold + eps))
                units_l.append(free_dummies)
            cols = np.concatenate(cols_l) if len(cols_l) > 1 else cols_l[0]
            bids = np.concatenate(bids_l) if len(bids_l) > 1 else bids_l[0]
            units = np.concatenate(units_l) if len(units_l) > 1 else units_l[0]
            free = _merge(cols, bids, units, cap, slot_bid, slot_unit, unit_col, price)
        primal = float(V[rows_all[:, None], real_cols].sum())
        dual = dual_bound(V, d, cap, price)
        if dual - primal <= rel_tol * max(abs(primal), 1e-12) or eps <= eps_final:
            break
        eps = max(eps / factor, eps_final)
        # next phase: keep the units of rows that are still eps-happy, free the others
        free = _free_unhappy(V, d, eps, units_real, slot_bid, slot_unit, unit_col, price)
    prices = price - price.min()
    return AuctionResult(
        real_cols.copy(), prices, primal, dual, eps, phases, rounds, time.perf_counter() - start
    )


def _merge(
    cols: np.ndarray,
    bids: np.ndarray,
    units: np.ndarray,
    cap: int,
    slot_bid: np.ndarray,
    slot_unit: np.ndarray,
    unit_col: np.ndarray,
    price: np.ndarray,
) -> np.ndarray:
    """Each column keeps the ``cap`` highest bids among its holders and this round's bids.

    Returns the units left without a column (evicted holders and rejected bidders).
    """
    order = np.argsort(cols, kind="stable")
    cols, bids, units = cols[order], bids[order], units[order]
    touched, first, counts = np.unique(cols, return_index=True, return_counts=True)
    m = touched.size
    width = int(counts.max())
    pos = np.arange(cols.size) - np.repeat(first, counts)
    group = np.repeat(np.arange(m), counts)
    new_bid = np.full((m, width), -np.inf)
    new_unit = np.full((m, width), -1, dtype=np.int64)
    new_bid[group, pos] = bids
    new_unit[group, pos] = units
    held_bid = slot_bid[touched]
    if width < cap:  # only the `width` cheapest slots of a column can change hands
        low = np.argpartition(held_bid, width - 1, axis=1)[:, :width]
    else:
        low = np.broadcast_to(np.arange(cap), (m, cap))
    rows = np.arange(m)[:, None]
    cand_bid = np.concatenate([held_bid[rows, low], new_bid], axis=1)
    cand_unit = np.concatenate([slot_unit[touched[:, None], low], new_unit], axis=1)
    n_low = low.shape[1]
    keep = np.argpartition(-cand_bid, n_low - 1, axis=1)[:, :n_low]
    kept_bid = cand_bid[rows, keep]
    kept_unit = cand_unit[rows, keep]
    lost = np.ones(cand_unit.shape, dtype=bool)
    lost[rows, keep] = False
    out = cand_unit[lost]
    out = out[out >= 0]  # evicted holders and rejected bidders
    unit_col[out] = -1
    win = kept_unit >= 0
    win_rows = np.nonzero(win)[0]
    unit_col[kept_unit[win]] = touched[win_rows]
    held_bid[rows, low] = kept_bid
    slot_bid[touched] = held_bid
    slot_unit[touched[:, None], low] = kept_unit
    price[touched] = held_bid.min(axis=1)
    return out


def _top_m(sub: np.ndarray, m: int, big: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the best ``m`` columns, their values, and the (m+1)-th best value."""
    N = sub.shape[1]
    if m + 1 <= N:
        if m <= 4:  # a few argmax passes beat argpartition for small m
            rows = np.arange(sub.shape[0])
            picked = np.empty((sub.shape[0], m + 1), dtype=np.int64)
            vals = np.empty((sub.shape[0], m + 1))
            for j in range(m + 1):
                best = np.argmax(sub, axis=1)
                picked[:, j] = best
                vals[:, j] = sub[rows, best]
                sub[rows, best] = -np.inf
            sub[rows[:, None], picked] = vals  # restore
            top_cols, top_vals, nxt = picked[:, :m], vals[:, :m], vals[:, m]
        else:
            part = np.argpartition(-sub, m, axis=1)[:, : m + 1]
            vals = np.take_along_axis(sub, part, axis=1)
            order = np.argsort(-vals, axis=1)
            part = np.take_along_axis(part, order, axis=1)
            vals = np.take_along_axis(vals, order, axis=1)
            top_cols, top_vals, nxt = part[:, :m], vals[:, :m], vals[:, m]
        nxt = np.where(np.isfinite(nxt), nxt, top_vals[:, -1] - big)
    else:  # must take every remaining column
        top_cols = np.argsort(-sub, axis=1)[:, :m]
        top_vals = np.take_along_axis(sub, top_cols, axis=1)
        nxt = top_vals[:, -1] - big
    return top_cols, top_vals, nxt


def _sequential(
    free: np.ndarray,
    V: np.ndarray,
    d: int,
    cap: int,
    eps: float,
    big: float,
    units_real: int,
    slot_bid: np.ndarray,
    slot_unit: np.ndarray,
    unit_col: np.ndarray,
    price: np.ndarray,
) -> int:
    """Gauss-Seidel auction for the last few free units: one bidder at a time, scalar steps.

    Eviction chains are sequential by nature; doing them one by one avoids paying for a
    whole vectorised round per link. Returns the number of bids made.
    """
    real_cols = unit_col[:units_real].reshape(-1, d)
    queue = list(dict.fromkeys(int(u) // d if u < units_real else -1 - int(u) for u in free))
    bids = 0

    def place(c: int, s: int, bid: float, unit: int) -> None:
        """Give slot ``s`` of column ``c`` to ``unit`` at ``bid``; requeue whoever held it."""
        old = int(slot_unit[c, s])
        slot_bid[c, s] = bid
        slot_unit[c, s] = unit
        unit_col[unit] = c
        price[c] = slot_bid[c].min()
        if old >= 0:
            unit_col[old] = -1
            queue.append(old // d if old < units_real else -1 - old)

    while queue:
        item = queue.pop()
        bids += 1
        if item >= 0:  # a real row: bid for its best missing columns
            r = item
            held = real_cols[r]
            miss = np.nonzero(held < 0)[0]
            if miss.size == 0:
                continue
            net = V[r] - price
            net[held[held >= 0]] = -np.inf
            top_cols, top_vals, nxt = _top_m(net[None, :], int(miss.size), big)
            bids_r = price[top_cols[0]] + top_vals[0] - nxt[0] + eps
            targets = zip(top_cols[0], bids_r, miss, strict=True)
            for c, b, j in targets:
                c = int(c)
                unit = r * d + int(j)
                place(c, int(slot_bid[c].argmin()), b, unit)
        else:  # a dummy unit: the globally cheapest slot
            unit = -1 - item
            if unit_col[unit] >= 0:
                continue
            # the cheapest slot is the cheapest of the cheapest column; the runner-up is the
            # second slot there or the next column's cheapest
            c = int(np.argmin(price))
            s = int(np.argmin(slot_bid[c]))
            cheapest = slot_bid[c, s]
            slot_bid[c, s] = np.inf
            runner_up = slot_bid[c].min()
            price[c] = np.inf
            runner_up = min(runner_up, price.min())
            if not np.isfinite(runner_up):  # a single slot in all: any bid above it will do
                runner_up = cheapest
            place(c, s, max(runner_up, cheapest) + eps, unit)
    return bids


def _free_unhappy(
    V: np.ndarray,
    d: int,
    eps: float,
    units_real: int,
    slot_bid: np.ndarray,
    slot_unit: np.ndarray,
    unit_col: np.ndarray,
    price: np.ndarray,
) -> np.ndarray:
    """Free every unit of the rows that violate eps-CS at the current prices.

    Freed slots take the column's current price (its cheapest slot), so the price every
    bidder sees is unchanged and the rows that keep their units stay eps-happy.
    """
    R, N = V.shape
    cap = slot_bid.shape[1]
    real_cols = unit_col[:units_real].reshape(R, d)
    rows = np.arange(R)
    net = V - price[None, :]
    held_vals = np.take_along_axis(net, real_cols, axis=1)
    worst_held = held_vals.min(axis=1)
    net[rows[:, None], real_cols] = -np.inf
    best_free = net.max(axis=1) if d < N else np.full(R, -np.inf)
    bad_rows = np.nonzero(worst_held < best_free - eps)[0]
    freed = (bad_rows[:, None] * d + np.arange(d)[None, :]).ravel()
    dummy_cols = unit_col[units_real:]
    bad_dummies = units_real + np.nonzero(price[dummy_cols] > price.min() + eps)[0]
    freed = np.concatenate([freed, bad_dummies])
    if freed.size:
        flat_units = slot_unit.ravel()
        slot_of = np.full(unit_col.size, -1, dtype=np.int64)
        occupied = np.nonzero(flat_units >= 0)[0]
        slot_of[flat_units[occupied]] = occupied
        where = slot_of[freed]
        cols = where // cap
        flat_units[where] = -1
        slot_bid.ravel()[where] = price[cols]
        unit_col[freed] = -1
    return freed
