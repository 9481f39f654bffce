"""Byzantine-robust rules: values, bad input, hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qensemble import robust
from qensemble.errors import EmptyEnsemble, InvalidParameter, InvalidUpdates

TOL = 1e-6

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def matrices(min_rows: int = 1, max_rows: int = 9, max_dim: int = 5):
    return st.tuples(st.integers(min_rows, max_rows), st.integers(1, max_dim)).flatmap(
        lambda shape: arrays(np.float64, shape, elements=finite)
    )


def test_mean_matches_numpy() -> None:
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(robust.mean(x), x.mean(axis=0))
    w = np.array([1.0, 0, 0, 0, 3.0])
    np.testing.assert_allclose(robust.mean(x, w), (x[0] + 3 * x[4]) / 4)


def test_geometric_median_of_collinear_points_is_the_median() -> None:
    x = np.array([[0.0], [1.0], [2.0], [10.0], [100.0]])
    assert robust.geometric_median(x)[0] == pytest.approx(2.0, abs=1e-4)


def test_geometric_median_resists_a_minority_of_outliers() -> None:
    rng = np.random.default_rng(1)
    honest = rng.normal(size=(7, 4))
    bad = np.full((3, 4), 1e6)
    gm = robust.geometric_median(np.vstack([honest, bad]))
    assert np.linalg.norm(gm - honest.mean(axis=0)) < 3.0
    assert np.linalg.norm(robust.mean(np.vstack([honest, bad]))) > 1e5


def test_geometric_median_minimises_sum_of_distances() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(9, 3))
    gm = robust.geometric_median(x, tol=1e-12, max_iter=2000)

    def cost(z: np.ndarray) -> float:
        return float(np.linalg.norm(x - z, axis=1).sum())

    for _ in range(50):
        assert cost(gm) <= cost(gm + rng.normal(scale=0.05, size=3)) + 1e-9


def test_krum_picks_an_honest_update() -> None:
    rng = np.random.default_rng(3)
    honest = rng.normal(size=(7, 5)) * 0.1
    bad = rng.normal(size=(3, 5)) * 50
    chosen = robust.krum(np.vstack([bad, honest]), f=3)
    assert any(np.allclose(chosen, h) for h in honest)


def test_multi_krum_averages_the_best() -> None:
    x = np.array([[0.0], [0.1], [0.2], [0.3], [0.4], [50.0]])
    # n = 6, f = 1: each score sums the 3 nearest squared distances; 50 is worst.
    assert robust.multi_krum(x, f=1)[0] == pytest.approx(0.2)
    assert robust.multi_krum(x, f=1, m=1)[0] in {0.1, 0.2, 0.3}


@pytest.mark.parametrize(("n", "f"), [(4, 1), (6, 2), (3, 1), (2, 0)])
def test_krum_refuses_f_too_large(n: int, f: int) -> None:
    x = np.zeros((n, 2))
    with pytest.raises(InvalidParameter, match=r"^f: Krum with .* n > 2f \+ 2"):
        robust.krum(x, f=f)


@pytest.mark.parametrize("f", [-1, 1.5, True, "1"])
def test_krum_refuses_non_integer_f(f: object) -> None:
    with pytest.raises(InvalidParameter, match=r"^f: "):
        robust.krum(np.zeros((9, 2)), f=f)  # type: ignore[arg-type]


def test_coordinate_median_and_trimmed_mean() -> None:
    x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0], [100.0, -100.0]])
    np.testing.assert_allclose(robust.coordinate_median(x), [3.0, 20.0])
    np.testing.assert_allclose(robust.trimmed_mean(x, 1), [3.0, 20.0])
    np.testing.assert_allclose(robust.trimmed_mean(x, 0.2), [3.0, 20.0])
    np.testing.assert_allclose(robust.trimmed_mean(x, 0), x.mean(axis=0))


@pytest.mark.parametrize("trim", [0.5, -0.1, 3, True, "x"])
def test_trimmed_mean_refuses_bad_trim(trim: object) -> None:
    with pytest.raises(InvalidParameter, match=r"^trim: "):
        robust.trimmed_mean(np.zeros((5, 2)), trim)  # type: ignore[arg-type]


def test_state_dicts_round_trip_in_kind() -> None:
    rng = np.random.default_rng(4)
    states = [
        {
            "w": torch.tensor(rng.normal(size=(2, 3)), dtype=torch.float32),
            "b": torch.tensor(rng.normal(size=3), dtype=torch.float32),
            "n": torch.tensor(5),
        }
        for _ in range(5)
    ]
    out = robust.coordinate_median(states)
    assert set(out) == {"w", "b", "n"}
    assert out["w"].shape == (2, 3) and out["w"].dtype == torch.float32
    assert out["n"].dtype == torch.int64 and int(out["n"]) == 5
    expected = np.median(np.stack([s["w"].numpy() for s in states]), axis=0)
    np.testing.assert_allclose(out["w"].numpy(), expected, rtol=1e-6)
    numpy_states = [{"a": rng.normal(size=4)} for _ in range(3)]
    assert robust.mean(numpy_states)["a"].shape == (4,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rule", ["mean", "geometric_median", "coordinate_median", "trimmed_mean"])
def test_non_finite_updates_are_refused_naming_the_worker(bad: float, rule: str) -> None:
    x = np.zeros((5, 3))
    x[2, 1] = bad
    with pytest.raises(InvalidUpdates, match=r"^updates\[2\]\[1\]: is .*finite"):
        robust.aggregate(x, rule)


def test_non_finite_state_dict_names_the_key() -> None:
    states = [{"w": np.zeros(3), "b": np.zeros(2)} for _ in range(4)]
    states[3]["b"] = np.array([0.0, np.nan])
    with pytest.raises(InvalidUpdates, match=r"^updates\[3\]\['b'\]: is nan"):
        robust.geometric_median(states)


def test_bad_shapes_and_empty() -> None:
    with pytest.raises(EmptyEnsemble, match=r"^updates: has no workers"):
        robust.mean(np.zeros((0, 3)))
    with pytest.raises(EmptyEnsemble, match=r"^updates: has no workers"):
        robust.mean([])
    with pytest.raises(InvalidUpdates, match=r"^updates: has shape \(3,\)"):
        robust.mean(np.zeros(3))
    with pytest.raises(InvalidUpdates, match=r"^updates\[1\]\['w'\]: shape differs"):
        robust.mean([{"w": np.zeros(3)}, {"w": np.zeros(4)}])
    with pytest.raises(InvalidUpdates, match=r"^updates\[1\]: keys differ"):
        robust.mean([{"w": np.zeros(3)}, {"v": np.zeros(3)}])
    with pytest.raises(InvalidUpdates, match=r"^updates: is one state dict"):
        robust.mean({"w": np.zeros(3)})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"^rule: unknown"):
        robust.aggregate(np.zeros((3, 2)), "median")


def test_mad_filter_rejects_outliers_and_remembers() -> None:
    rng = np.random.default_rng(5)
    mad = robust.MadFilter()
    honest_ids = list(range(7))
    for _ in range(3):
        honest = rng.normal(size=(7, 6)) * 0.1
        bad = 20 + rng.normal(size=(3, 6))
        result = mad(np.vstack([honest, bad]), workers=[*honest_ids, "x", "y", "z"])
        assert result.accepted[:7].all() and not result.accepted[7:].any()
        assert np.linalg.norm(result.aggregate - honest.mean(axis=0)) < 0.3
    assert result.reputation["x"] < 0.6 < result.reputation[0]
    # Caught three rounds running, "x" stays out even when it sends an honest-looking update.
    honest = rng.normal(size=(10, 6)) * 0.1
    result = mad(honest, workers=[*honest_ids, "x", "y", "z"])
    assert not result.accepted[7]


def test_mad_filter_refuses_bad_settings() -> None:
    with pytest.raises(InvalidParameter, match=r"^memory: "):
        robust.MadFilter(memory=1.5)
    with pytest.raises(InvalidParameter, match=r"^threshold: "):
        robust.MadFilter(threshold=0)
    with pytest.raises(InvalidParameter, match=r"^workers: "):
        robust.MadFilter()(np.zeros((3, 2)), workers=[1, 1, 2])


# ---- hypothesis properties ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(matrices(min_rows=4), st.randoms(use_true_random=False))
def test_rules_are_permutation_invariant(x: np.ndarray, rnd) -> None:
    order = list(range(len(x)))
    rnd.shuffle(order)
    y = x[order]
    f = (len(x) - 3) // 2
    for rule, params in [
        ("mean", {}),
        ("coordinate_median", {}),
        ("trimmed_mean", {"trim": 0.2}),
        ("geometric_median", {}),
        ("multi_krum", {"f": f}),
    ]:
        a = robust.aggregate(x, rule, **params)
        b = robust.aggregate(y, rule, **params)
        scale = 1 + np.abs(x).max()
        tol = 1e-5 * scale if rule == "geometric_median" else 1e-9 * scale
        if rule == "multi_krum":  # ties in scores may swap members: compare sorted scores
            np.testing.assert_allclose(
                np.sort(robust.krum_scores(x, f)),
                np.sort(robust.krum_scores(y, f)),
                rtol=1e-9,
                atol=1e-9 * scale**2,
            )
            continue
        np.testing.assert_allclose(a, b, atol=tol, err_msg=rule)


@settings(max_examples=60, deadline=None)
@given(matrices(min_rows=1))
def test_coordinate_rules_lie_within_coordinate_bounds(x: np.ndarray) -> None:
    lo, hi = x.min(axis=0) - 1e-9, x.max(axis=0) + 1e-9
    for out in (
        robust.coordinate_median(x),
        robust.trimmed_mean(x, (len(x) - 1) // 2),
        robust.mean(x),
    ):
        assert np.all(out >= lo) and np.all(out <= hi)


@settings(max_examples=60, deadline=None)
@given(matrices(min_rows=1), st.data())
def test_trimmed_mean_bounded_by_kept_order_statistics(x: np.ndarray, data) -> None:
    n = len(x)
    k = data.draw(st.integers(0, (n - 1) // 2))
    out = robust.trimmed_mean(x, k)
    ordered = np.sort(x, axis=0)
    assert np.all(out >= ordered[k] - 1e-9) and np.all(out <= ordered[n - 1 - k] + 1e-9)


@settings(max_examples=40, deadline=None)
@given(matrices(min_rows=1, max_dim=3))
def test_geometric_median_in_convex_hull(x: np.ndarray) -> None:
    from scipy.optimize import linprog

    z = robust.geometric_median(x)
    # distance from z to the hull: min ||x.T @ lambda - z||_1 over lambda >= 0 with sum 1, as an
    # LP with slacks (an exact feasibility LP fails on degenerate hulls by rounding alone)
    n, d = x.shape
    scale = 1 + np.abs(x).max()
    a_eq = np.vstack(
        [
            np.hstack([x.T / scale, -np.eye(d), np.eye(d)]),
            np.hstack([np.ones((1, n)), np.zeros((1, 2 * d))]),
        ]
    )
    b_eq = np.concatenate([z / scale, [1.0]])
    cost = np.concatenate([np.zeros(n), np.ones(2 * d)])
    res = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * (n + 2 * d), method="highs")
    assert res.status == 0, res.message
    assert res.fun <= 1e-7


@settings(max_examples=60, deadline=None)
@given(matrices(min_rows=1), st.sampled_from(sorted(robust.RULES)))
def test_translation_equivariance(x: np.ndarray, rule: str) -> None:
    shift = np.linspace(-3, 3, x.shape[1])
    params = {"f": (len(x) - 3) // 2} if rule in {"krum", "multi_krum"} else {}
    if params and params["f"] < 0:
        return
    a = robust.aggregate(x, rule, **params)
    b = robust.aggregate(x + shift, rule, **params)
    scale = 1 + np.abs(x).max()
    tol = 1e-4 * scale if rule in {"geometric_median", "krum", "multi_krum"} else 1e-9 * scale
    if rule in {"krum", "multi_krum"}:
        # float ties can pick a different but equally scored worker: compare scores instead
        np.testing.assert_allclose(
            robust.krum_scores(x + shift, params["f"]),
            robust.krum_scores(x, params["f"]),
            rtol=1e-6,
            atol=1e-6 * scale**2,
        )
        return
    np.testing.assert_allclose(b, a + shift, atol=tol)


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(-10, 10), min_size=0, max_size=3),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["w", "b", "c"]), values, max_size=3), max_size=4))
def test_state_dict_input_fuzz(states: list[dict]) -> None:
    """Any list of dicts gives an aggregate or one of our errors, never another exception."""
    from qensemble.errors import QensembleError

    try:
        out = robust.coordinate_median(states)
    except QensembleError as exc:
        assert "\n" not in str(exc) and ": " in str(exc)
        return
    assert set(out) == set(states[0])
