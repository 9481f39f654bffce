"""Bad input: clear errors naming the field and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import qrouting
from qrouting import CapacityError, InvalidRouting, Locality, RoutingProblem


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        (np.zeros(5), "2-D"),
        (np.zeros((2, 3, 4)), "2-D"),
        (np.zeros((0, 4)), "empty batch"),
        (np.zeros((4, 0)), "0 experts"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), r"\[0, 1\] is nan"),
        (np.array([[0.0, np.inf]]), "finite"),
        ("not numbers", "float array"),
    ],
)
def test_bad_scores(scores: object, match: str) -> None:
    with pytest.raises(InvalidRouting, match=match):
        RoutingProblem.from_scores(scores, 1)


def test_k_larger_than_experts() -> None:
    with pytest.raises(InvalidRouting, match="k: 5 is larger than the number of experts"):
        qrouting.route(np.zeros((3, 4)), "topk", k=5)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k(k: object) -> None:
    with pytest.raises(InvalidRouting, match="k:"):
        RoutingProblem.from_scores(np.zeros((3, 4)), k)  # type: ignore[arg-type]


@pytest.mark.parametrize("cf", [0, -1.0, float("nan"), "x"])
def test_bad_capacity_factor(cf: object) -> None:
    with pytest.raises(InvalidRouting, match="capacity_factor"):
        RoutingProblem.from_scores(np.zeros((3, 4)), 1, cf)  # type: ignore[arg-type]


def test_negative_affinity() -> None:
    with pytest.raises(InvalidRouting, match="affinities must be >= 0"):
        RoutingProblem.from_scores(-np.ones((3, 4)), 1, scores_are="affinity")


def test_capacity_too_small_raises_by_flag() -> None:
    logits = np.zeros((10, 4))
    with pytest.raises(CapacityError, match="12 assignments would be dropped") as info:
        qrouting.route(logits, "topk", k=2, capacity=2, on_overflow="raise")
    assert info.value.would_drop == 12
    assert isinstance(info.value, ValueError)


def test_capacity_too_small_drops_and_says_so() -> None:
    logits = np.random.default_rng(0).standard_normal((10, 4))
    plan = qrouting.route(logits, "balanced", k=2, capacity=2)  # on_overflow="drop" default
    assert plan.metrics["drop_fraction"] == pytest.approx(12 / 20)
    assert plan.short_tokens.size > 0
    assert plan.loads.tolist() == [2, 2, 2, 2]


def test_unknown_router_and_bad_options() -> None:
    with pytest.raises(qrouting.UnknownRouter, match="choose one of"):
        qrouting.get_router("nope")
    with pytest.raises(InvalidRouting, match="method"):
        qrouting.get_router("balanced", method="simplex")
    with pytest.raises(InvalidRouting, match="bad option"):
        qrouting.get_router("topk", temperature=2.0)
    with pytest.raises(InvalidRouting, match="n_iter"):
        qrouting.get_router("sinkhorn", n_iter=0)
    with pytest.raises(InvalidRouting, match="options"):
        qrouting.route(np.zeros((2, 2)), qrouting.TopKRouter(), priority="score")


def test_bad_locality() -> None:
    with pytest.raises(InvalidRouting, match="token_device"):
        qrouting.route(
            np.zeros((3, 2)), "topk", locality=Locality(np.zeros(2, int), np.zeros(2, int))
        )
    with pytest.raises(InvalidRouting, match="cost_per_hop"):
        Locality(np.zeros(2, int), np.zeros(2, int), cost_per_hop=-1)
    with pytest.raises(InvalidRouting, match="hops"):
        Locality(np.array([0, 3]), np.zeros(2, int), hops=np.zeros((2, 2)))
    with pytest.raises(InvalidRouting, match="integer device ids"):
        Locality(np.array([0.5, 1.0]), np.zeros(2, int))


def test_bad_capacity_and_token_ids() -> None:
    with pytest.raises(InvalidRouting, match="capacity"):
        RoutingProblem.from_scores(np.zeros((3, 2)), 1, capacity=0)
    with pytest.raises(InvalidRouting, match="token_ids"):
        RoutingProblem.from_scores(np.zeros((3, 2)), 1, token_ids=[1, 2])


def test_errors_subclass_builtins() -> None:
    assert issubclass(InvalidRouting, ValueError)
    assert issubclass(qrouting.RouterFailed, RuntimeError)
    assert issubclass(qrouting.MissingExtra, ImportError)


def test_auction_time_limit_is_router_failed() -> None:
    logits = np.random.default_rng(0).standard_normal((20_000, 16))
    with pytest.raises(qrouting.RouterFailed, match="time limit"):
        qrouting.route(logits, "balanced", k=2, method="auction", time_limit=1e-6)
