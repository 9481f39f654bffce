"""Aggregation: fedavg by hand, robustness of median / trimmed mean, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from qfed.aggregation import aggregate, coordinate_median, fedavg, trimmed_mean
from qfed.errors import InvalidConfig


def _updates(n: int = 5, seed: int = 0, dtype: type = np.float32) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "lora_A": (1.0 + 0.01 * rng.standard_normal((4, 3))).astype(dtype),
            "head.bias": (-2.0 + 0.01 * rng.standard_normal(2)).astype(dtype),
        }
        for _ in range(n)
    ]


def test_fedavg_matches_hand_computation() -> None:
    a = {"w": np.array([1.0, 2.0], dtype=np.float32), "b": np.array([[0.0]], dtype=np.float32)}
    b = {"w": np.array([5.0, -2.0], dtype=np.float32), "b": np.array([[4.0]], dtype=np.float32)}
    out = fedavg([a, b], [10, 30])  # (10 a + 30 b) / 40
    np.testing.assert_allclose(out["w"], [4.0, -1.0])
    np.testing.assert_allclose(out["b"], [[3.0]])
    assert out["w"].dtype == np.float32 and out["b"].shape == (1, 1)


def test_dtypes_kept() -> None:
    for fn in (lambda u: fedavg(u, [1] * len(u)), coordinate_median, trimmed_mean):
        assert fn(_updates(dtype=np.float32))["lora_A"].dtype == np.float32
        assert fn(_updates(dtype=np.float64))["lora_A"].dtype == np.float64
    ints = [{"w": np.array([1, 2])}, {"w": np.array([2, 3])}]
    assert fedavg(ints, [1, 1])["w"].dtype == np.float64


def test_zero_weight_clients_are_ignored_and_equal_weights_are_the_mean() -> None:
    ups = _updates(3)
    out = fedavg(ups, [0, 1, 0])
    np.testing.assert_allclose(out["lora_A"], ups[1]["lora_A"], rtol=1e-6)
    mean = np.mean([u["head.bias"] for u in ups], axis=0)
    np.testing.assert_allclose(aggregate(ups)["head.bias"], mean, rtol=1e-6)


def test_robust_rules_resist_one_huge_outlier_where_fedavg_does_not() -> None:
    honest = _updates(5, seed=1)
    attacker = {k: np.full_like(v, 1e6) for k, v in honest[0].items()}
    updates = [*honest, attacker]
    weights = [100] * 6
    clean = fedavg(honest, [100] * 5)

    def error(out: dict[str, np.ndarray]) -> float:
        return max(float(np.abs(out[k] - clean[k]).max()) for k in clean)

    assert error(fedavg(updates, weights)) > 1e4
    assert error(coordinate_median(updates)) < 0.05
    # 6 clients: trim_fraction 0.2 drops floor(1.2) = 1 value at each end
    assert error(trimmed_mean(updates, trim_fraction=0.2)) < 0.05
    assert error(aggregate(updates, weights, method="median")) < 0.05
    assert error(aggregate(updates, weights, method="trimmed_mean", trim_fraction=0.2)) < 0.05


def test_trimmed_mean_edges() -> None:
    ups = [{"w": np.array([float(v)])} for v in (1, 2, 3, 4, 100)]
    assert trimmed_mean(ups, 0.0)["w"][0] == pytest.approx(22.0)  # plain mean
    assert trimmed_mean(ups, 0.1)["w"][0] == pytest.approx(22.0)  # floor(0.5) = 0 trimmed
    assert trimmed_mean(ups, 0.2)["w"][0] == pytest.approx(3.0)  # drops 1 and 100
    assert trimmed_mean(ups, 0.49)["w"][0] == pytest.approx(3.0)  # floor(2.45) = 2: median
    assert coordinate_median(ups[:4])["w"][0] == pytest.approx(2.5)


def test_validation_errors_name_the_problem() -> None:
    ups = _updates(3)
    with pytest.raises(InvalidConfig, match="updates: is empty"):
        fedavg([], [])
    with pytest.raises(InvalidConfig, match="updates: expected a sequence"):
        coordinate_median(ups[0])  # type: ignore[arg-type]
    bad_keys = [dict(u) for u in ups]
    del bad_keys[2]["head.bias"]
    bad_keys[2]["extra"] = np.zeros(1)
    with pytest.raises(InvalidConfig, match=r"updates\[2\].*missing \['head.bias'\].*extra"):
        aggregate(bad_keys, method="median")
    bad_shape = [dict(u) for u in ups]
    bad_shape[1]["lora_A"] = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(InvalidConfig, match=r"updates\[1\]\['lora_A'\]: has shape \(3, 4\)"):
        fedavg(bad_shape, [1, 1, 1])
    nan = [dict(u) for u in ups]
    nan[2]["head.bias"] = np.array([0.0, np.inf], dtype=np.float32)
    with pytest.raises(InvalidConfig, match=r"updates\[2\]\['head.bias'\]: holds NaN or inf"):
        trimmed_mean(nan)
    with pytest.raises(InvalidConfig, match="weights: sum to 0"):
        fedavg(ups, [0, 0, 0])
    with pytest.raises(InvalidConfig, match=r"weights\[1\]: is -1.0"):
        fedavg(ups, [1, -1, 1])
    with pytest.raises(InvalidConfig, match=r"weights\[0\]: is nan"):
        fedavg(ups, [float("nan"), 1, 1])
    with pytest.raises(InvalidConfig, match="weights: has 2 entries for 3 updates"):
        aggregate(ups, [1, 2], method="median")
    for trim in (0.5, -0.1, float("nan")):
        with pytest.raises(InvalidConfig, match="trim_fraction"):
            trimmed_mean(ups, trim)
    with pytest.raises(InvalidConfig, match="method: is 'krum'"):
        aggregate(ups, method="krum")  # type: ignore[arg-type]
