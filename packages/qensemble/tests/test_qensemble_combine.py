"""Prediction-space combiners, soups, tree aggregation, ensemble selection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qensemble import combine, selection, soup
from qensemble.errors import EmptyEnsemble, InvalidParameter, MemberShapeMismatch


def _probs(members: int, samples: int, classes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(classes), size=(members, samples))


def test_mean_and_weighted_mean() -> None:
    p = _probs(3, 10, 4)
    np.testing.assert_allclose(combine.mean_probs(p), p.mean(axis=0))
    np.testing.assert_allclose(combine.weighted_mean(p, [0, 2, 0]), p[1])
    with pytest.raises(MemberShapeMismatch, match=r"^weights: has shape \(2,\)"):
        combine.weighted_mean(p, [1, 1])


def test_majority_vote_counts_votes_and_breaks_ties_by_probability() -> None:
    p = np.array(
        [
            [[0.6, 0.4], [0.9, 0.1]],
            [[0.6, 0.4], [0.2, 0.8]],
            [[0.1, 0.9], [0.45, 0.55]],
        ]
    )
    out = combine.majority_vote(p)
    assert out.argmax(axis=1).tolist() == [0, 1]  # 2:1 for class 0, then 2:1 for class 1
    tie = np.array([[[0.9, 0.1]], [[0.4, 0.6]]])  # one vote each; class 0 has higher mean
    assert combine.majority_vote(tie).argmax(axis=1).tolist() == [0]


def test_confidence_weighted_favours_confident_members() -> None:
    p = np.array([[[0.99, 0.01]], [[0.45, 0.55]], [[0.45, 0.55]]])
    assert combine.confidence_weighted(p).argmax(axis=1).tolist() == [0]
    assert combine.mean_probs(p).argmax(axis=1).tolist() == [0]
    np.testing.assert_allclose(combine.confidence_weighted(p).sum(axis=1), 1.0)


def test_softmax_score_weights_and_amplitudes() -> None:
    w = combine.softmax_score_weights([0.9, 0.8, 0.9], temperature=0.1)
    assert w.sum() == pytest.approx(1.0)
    assert w[0] == pytest.approx(w[2]) and w[0] / w[1] == pytest.approx(np.e)
    a = combine.amplitudes(w)
    assert np.sum(a**2) == pytest.approx(1.0)
    with pytest.raises(InvalidParameter, match=r"^temperature: "):
        combine.softmax_score_weights([0.5], temperature=0)
    with pytest.raises(EmptyEnsemble, match=r"^scores: "):
        combine.softmax_score_weights([])


def test_correlation_weights_count_copies_once() -> None:
    p = _probs(3, 2000, 3, seed=1)  # independent members: correlations near 0
    stacked = np.stack([p[0], p[0], p[0], p[1], p[2]])
    w = combine.correlation_weights(stacked)
    assert w[0] == pytest.approx(w[1]) == pytest.approx(w[2])
    # Three identical copies together weigh about what one independent member does.
    assert w[:3].sum() == pytest.approx(w[3], rel=0.1)
    assert w[0] < w[3] / 2


def test_stacking_learns_to_trust_the_good_member() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    good = np.where(y[:, None] == np.arange(2), 0.8, 0.2)
    noise = rng.dirichlet(np.ones(2), size=(2, 300))
    p = np.stack([noise[0], good, noise[1]])
    model = combine.StackingCombiner().fit(p[:, :200], y[:200])
    acc = (model.predict_proba(p[:, 200:]).argmax(axis=1) == y[200:]).mean()
    assert acc == pytest.approx(1.0)
    with pytest.raises(MemberShapeMismatch, match=r"^probs: has 2 members"):
        model.predict_proba(p[:2])
    with pytest.raises(EmptyEnsemble, match=r"^StackingCombiner: call fit"):
        combine.StackingCombiner().predict_proba(p)


def test_bad_member_predictions() -> None:
    with pytest.raises(MemberShapeMismatch, match=r"^probs\[1\]: has shape \(5, 3\)"):
        combine.mean_probs([np.ones((5, 2)), np.ones((5, 3))])
    with pytest.raises(EmptyEnsemble, match=r"^probs: has no members"):
        combine.mean_probs([])
    with pytest.raises(EmptyEnsemble, match=r"^probs: has no members"):
        combine.majority_vote(np.zeros((0, 3, 2)))
    bad = _probs(2, 3, 2)
    bad[1, 0, 0] = np.nan
    with pytest.raises(InvalidParameter, match=r"^probs\[1\]: contains NaN"):
        combine.confidence_weighted(bad)
    with pytest.raises(MemberShapeMismatch, match=r"^probs: has shape \(3, 2\)"):
        combine.mean_probs(np.ones((3, 2)))


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(2, 5), st.integers(0, 10**6))
def test_combiners_return_distributions_and_are_member_order_invariant(
    m: int, n: int, c: int, seed: int
) -> None:
    p = _probs(m, n, c, seed)
    perm = np.random.default_rng(seed).permutation(m)
    for rule in (combine.mean_probs, combine.confidence_weighted):
        out = rule(p)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-9)
        np.testing.assert_allclose(rule(p[perm]), out, atol=1e-12)
    w = combine.correlation_weights(p)
    assert w.sum() == pytest.approx(1.0) and np.all(w > 0)
    np.testing.assert_allclose(combine.correlation_weights(p[perm]), w[perm], atol=1e-9)
    assert combine.majority_vote(p).argmax(axis=1).tolist() == (
        combine.majority_vote(p[perm]).argmax(axis=1).tolist()
    )


# ---- weight space -----------------------------------------------------------------------------


def test_uniform_and_greedy_soup() -> None:
    states = [{"w": np.full(2, float(i))} for i in range(4)]
    np.testing.assert_allclose(soup.uniform_soup(states)["w"], [1.5, 1.5])

    # Held-out score: closeness of w to 1.5. Order by own score: 1, 2, 0, 3. Adding 2 helps
    # (mean 1.5); adding 0 (mean 1) or 3 (mean 2) would hurt and is skipped.
    def evaluate(state: dict) -> float:
        return -abs(float(state["w"][0]) - 1.5)

    result = soup.greedy_soup(states, [0.5, 0.9, 0.6, 0.1], evaluate)
    assert result.ingredients == [1, 2]
    np.testing.assert_allclose(result.state["w"], [1.5, 1.5])
    assert result.score == pytest.approx(0.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(2, 5), st.integers(0, 10**6))
def test_tree_aggregate_equals_flat_weighted_mean(n: int, fanout: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    w = rng.uniform(0.1, 2.0, size=n)
    result = soup.tree_aggregate(x, w, fanout=fanout)
    np.testing.assert_allclose(result.aggregate, w @ x / w.sum(), atol=1e-9)
    assert result.depth == (0 if n == 1 else int(np.ceil(np.log(n) / np.log(fanout) - 1e-9)))


def test_tree_aggregate_refuses_bad_fanout() -> None:
    with pytest.raises(InvalidParameter, match=r"^fanout: "):
        soup.tree_aggregate(np.zeros((3, 2)), fanout=1)


# ---- selection --------------------------------------------------------------------------------


def _library(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Members that are right with their own accuracy; 0-2 are near-copies of one another."""
    rng = np.random.default_rng(seed)
    n, c = 200, 3
    y = rng.integers(0, c, n)
    base_right = rng.random(n) < 0.8
    members = []
    for m in range(8):
        right = base_right.copy() if m < 3 else rng.random(n) < 0.72
        if m < 3:
            flip = rng.random(n) < 0.02
            right = right ^ flip
        wrong = (y + 1 + rng.integers(0, c - 1, n)) % c
        label = np.where(right, y, wrong)
        members.append(np.eye(c)[label] * 0.7 + 0.1)
    return np.stack(members), y


def test_qubo_selection_avoids_correlated_copies() -> None:
    p, y = _library()
    chosen = selection.qubo_select(p, y, 3, solver="exact")
    assert len(chosen.members) == 3 and len(set(chosen.members)) == 3
    assert sum(m < 3 for m in chosen.members) <= 1  # at most one of the near-copies
    assert chosen.info["proven_optimal"]
    top = selection.top_k_select(p, y, 3)
    assert top.members == [0, 1, 2]  # individually best are the copies
    assert chosen.val_accuracy > top.val_accuracy


def test_qubo_matches_brute_force_objective() -> None:
    import itertools

    p, y = _library(4)
    k = 4
    acc = (p.argmax(axis=2) == y).mean(axis=1)
    corr = selection.error_correlation(p, y)
    lam = 2.0 / (k - 1)
    best = max(
        itertools.combinations(range(len(p)), k),
        key=lambda s: (
            acc[list(s)].sum() - lam * sum(corr[i, j] for i, j in itertools.combinations(s, 2))
        ),
    )
    assert selection.qubo_select(p, y, k, solver="exact").members == list(best)


def test_caruana_greedy() -> None:
    p, y = _library()
    result = selection.caruana_select(p, y, 3)
    assert len(set(result.members)) == 3
    # The first pick is the single best member.
    acc = (p.argmax(axis=2) == y).mean(axis=1)
    assert result.members[0] == int(np.argmax(acc))
    rep = selection.caruana_select(p, y, 5, replacement=True)
    assert len(rep.members) == 5


@pytest.mark.parametrize("k", [0, 9, 2.0, True])
def test_selection_refuses_bad_k(k: object) -> None:
    p, y = _library()
    for select in (selection.qubo_select, selection.caruana_select, selection.top_k_select):
        with pytest.raises(InvalidParameter, match=r"^k: "):
            select(p, y, k)  # type: ignore[arg-type]


def test_selection_refuses_bad_labels() -> None:
    p, y = _library()
    with pytest.raises(MemberShapeMismatch, match=r"^y: has shape"):
        selection.caruana_select(p, y[:-1], 2)
    with pytest.raises(InvalidParameter, match=r"^y: labels must be in 0..2"):
        selection.caruana_select(p, y + 5, 2)


def test_qubo_with_a_redundancy_grid_keeps_the_best_on_validation() -> None:
    p, y = _library(5)
    grid = [0.0, 0.5, 1.0, 2.0]
    tuned = selection.qubo_select(p, y, 3, redundancy=grid, solver="exact")
    singles = [selection.qubo_select(p, y, 3, redundancy=r, solver="exact") for r in grid]
    assert tuned.info["redundancy"] in grid
    assert tuned.val_accuracy == max(s.val_accuracy for s in singles)
    with pytest.raises(InvalidParameter, match=r"^redundancy: is an empty"):
        selection.qubo_select(p, y, 3, redundancy=[])
    with pytest.raises(InvalidParameter, match=r"^redundancy: is -1"):
        selection.qubo_select(p, y, 3, redundancy=-1)


def test_qubo_coerror_pair_term_matches_brute_force() -> None:
    import itertools

    p, y = _library(6)
    k = 3
    wrong = (p.argmax(axis=2) != y).astype(float)
    err = wrong.mean(axis=1)
    co = wrong @ wrong.T / len(y)
    best = min(
        itertools.combinations(range(len(p)), k),
        key=lambda s: err[list(s)].sum() + sum(co[i, j] for i, j in itertools.combinations(s, 2)),
    )
    chosen = selection.qubo_select(p, y, k, pair_term="coerror", solver="exact")
    assert chosen.members == list(best) and chosen.info["pair_term"] == "coerror"
    with pytest.raises(InvalidParameter, match=r"^pair_term: "):
        selection.qubo_select(p, y, k, pair_term="kl")
