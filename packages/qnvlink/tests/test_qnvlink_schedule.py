"""Edge colouring: König's Delta rounds, Misra-Gries' Delta + 1, QUBO colouring via qcore."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qnvlink
from qnvlink import UnknownMethod
from qnvlink.schedule import misra_gries, schedule_rounds


def _proper(rounds: list[list[tuple[int, int]]], directed: bool) -> bool:
    for transfers in rounds:
        if directed:
            senders = [a for a, _ in transfers]
            receivers = [b for _, b in transfers]
            if len(set(senders)) < len(senders) or len(set(receivers)) < len(receivers):
                return False
        else:
            ends = [x for edge in transfers for x in edge]
            if len(set(ends)) < len(ends):
                return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12), st.floats(0.05, 0.9), st.integers(0, 10_000))
def test_bipartite_uses_exactly_delta_rounds(n: int, p: float, seed: int) -> None:
    traffic = (np.random.default_rng(seed).random((n, n)) < p).astype(float)
    np.fill_diagonal(traffic, 0.0)
    if not traffic.any():
        return
    schedule = schedule_rounds(traffic, "bipartite")
    assert schedule.num_rounds == schedule.delta
    assert _proper(schedule.rounds, directed=True)
    assert sum(len(r) for r in schedule.rounds) == np.count_nonzero(traffic)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 14), st.floats(0.05, 0.9), st.integers(0, 10_000))
def test_misra_gries_uses_at_most_delta_plus_one(n: int, p: float, seed: int) -> None:
    graph = nx.gnp_random_graph(n, p, seed=seed)
    edges = list(graph.edges())
    if not edges:
        return
    colours = misra_gries(edges, n)
    delta = max(d for _, d in graph.degree())
    assert max(colours) <= delta
    for v in graph:
        at_v = [c for c, (a, b) in zip(colours, edges, strict=True) if v in (a, b)]
        assert len(at_v) == len(set(at_v))


def test_rounds_for_common_jobs() -> None:
    ring = schedule_rounds(qnvlink.ring_allreduce(8), "bipartite")
    assert ring.num_rounds == 1  # every rank sends once and receives once
    a2a = schedule_rounds(qnvlink.all_to_all(8), "misra-gries")
    assert a2a.delta == 7 and a2a.num_rounds in (7, 8)
    assert _proper(a2a.rounds, directed=False)


def test_qubo_colouring_through_qcore_exact() -> None:
    schedule = schedule_rounds(qnvlink.ring_allreduce(4), "qubo", solver="exact")
    assert schedule.num_rounds == schedule.delta == 2
    assert _proper(schedule.rounds, directed=False)
    assert schedule.info["attempts"][0] == {"colours": 2, "proper": True, "solver": "exact"}


def test_qubo_too_large_and_unknown_method() -> None:
    with pytest.raises(UnknownMethod, match="qubo"):
        schedule_rounds(qnvlink.all_to_all(16), "qubo")
    with pytest.raises(UnknownMethod, match="method"):
        schedule_rounds(qnvlink.all_to_all(4), "tetris")


def test_schedule_json_has_bytes() -> None:
    traffic = qnvlink.ring_allreduce(4, 100.0)
    data = schedule_rounds(traffic, "bipartite").to_dict(traffic)
    assert data["rounds"][0]["transfers"][0]["bytes"] == pytest.approx(150.0)
