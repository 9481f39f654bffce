"""Traffic generators carry the algorithms' volumes; readers refuse bad matrices by field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qnvlink
from qnvlink import InvalidTraffic, MalformedFile
from qnvlink.traffic import check_traffic, traffic_from_csv, traffic_from_json


def test_ring_allreduce_sends_2_k_minus_1_over_k() -> None:
    t = qnvlink.ring_allreduce(4, 1000.0)
    assert t[0, 1] == pytest.approx(1500.0) and t[3, 0] == pytest.approx(1500.0)
    assert np.count_nonzero(t) == 4


def test_tree_all_to_all_and_halo() -> None:
    tree = qnvlink.tree_allreduce(7, 10.0)
    assert np.count_nonzero(tree) == 12 and tree[1, 0] == tree[0, 1] == 10.0
    a2a = qnvlink.all_to_all(4, 400.0)
    assert a2a.sum() == pytest.approx(4 * 3 * 100.0)
    grid = qnvlink.halo((4, 4), 5.0)
    assert (np.count_nonzero(grid, axis=1) == 4).all()
    line = qnvlink.halo((4,), 5.0, periodic=False)
    assert np.count_nonzero(line) == 6


def test_parallel_3d_groups_follow_the_order() -> None:
    t = qnvlink.parallel_3d(2, 4, 2, tp_bytes=8.0, dp_bytes=100.0, pp_bytes=1.0)
    assert t.shape == (16, 16)
    # tp fastest: ranks 0..3 form a tensor-parallel ring
    assert t[0, 1] == pytest.approx(2 * 3 / 4 * 8.0)
    # dp next: rank 0 and rank 4 all-reduce gradients (ring of 2 sends S once each way)
    assert t[0, 4] == pytest.approx(100.0)
    # pp slowest: stage 0 rank 0 talks to stage 1 rank 8 both ways
    assert t[0, 8] == pytest.approx(1.0) and t[8, 0] == pytest.approx(1.0)
    other = qnvlink.parallel_3d(
        2, 4, 2, tp_bytes=8.0, dp_bytes=100.0, pp_bytes=1.0, order="dp,tp,pp"
    )
    assert other[0, 1] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        ([[0, -1], [0, 0]], r"traffic\[0\]\[1\]: is -1"),
        ([[0, float("inf")], [0, 0]], r"traffic\[0\]\[1\]: is inf"),
        ([[0, float("nan")], [0, 0]], "finite"),
        ([[1, 0], [0, 0]], "diagonal"),
        ([[0, 1, 2]], "square"),
        ("abc", "numeric|square"),
    ],
)
def test_bad_matrices_are_named(matrix: object, match: str) -> None:
    with pytest.raises(InvalidTraffic, match=match):
        check_traffic(matrix)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: qnvlink.ring_allreduce(1), "ranks"),
        (lambda: qnvlink.ring_allreduce(4, -5), "nbytes"),
        (lambda: qnvlink.parallel_3d(2, 2, 2, order="tp,tp,pp"), "order"),
        (lambda: qnvlink.parallel_3d(1, 1, 1), "product"),
        (lambda: qnvlink.parallel_3d(2, 0, 2), "tp"),
        (lambda: qnvlink.halo((2, 2, 2, 2)), "shape"),
    ],
)
def test_bad_generator_arguments(call: object, match: str) -> None:
    with pytest.raises(InvalidTraffic, match=match):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_read_write_round_trip(tmp_path: Path, suffix: str) -> None:
    t = qnvlink.parallel_3d(2, 2, 2)
    back = qnvlink.read_traffic(qnvlink.write_traffic(t, tmp_path / f"t{suffix}"))
    assert np.allclose(back, t)


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("0,1\n1,0\n")
    with pytest.raises(MalformedFile, match="suffix"):
        qnvlink.read_traffic(tmp_path / "t.txt")
    (tmp_path / "t.npy").write_bytes(b"not numpy")
    with pytest.raises(MalformedFile, match="npy"):
        qnvlink.read_traffic(tmp_path / "t.npy")
    with pytest.raises(InvalidTraffic, match=r"\[1\]\[0\]: is 'x'"):
        traffic_from_csv("0,1\nx,0\n")
    with pytest.raises(InvalidTraffic, match="is True"):
        traffic_from_json("[[0, true], [1, 0]]")
    with pytest.raises(InvalidTraffic, match="Infinity"):
        traffic_from_json("[[0, Infinity], [1, 0]]")
    with pytest.raises(MalformedFile, match="JSON"):
        traffic_from_json("[[0, 1" + "0" * 5000 + "], [1, 0]]")
    (tmp_path / "t.csv").write_bytes(b"0,1\n\xff,0\n")
    with pytest.raises(MalformedFile, match="UTF-8"):
        qnvlink.read_traffic(tmp_path / "t.csv")


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.lists(
            st.lists(
                st.one_of(st.floats(), st.integers(-3, 10), st.booleans(), st.text(max_size=2)),
                max_size=4,
            ),
            max_size=4,
        ).map(json.dumps),
    )
)
def test_traffic_json_fuzz(text: str) -> None:
    try:
        matrix = traffic_from_json(text)
    except (InvalidTraffic, MalformedFile) as exc:
        assert "\n" not in str(exc)
    else:
        assert matrix.shape[0] == matrix.shape[1] and (matrix >= 0).all()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789.,-e\n xinfa", max_size=60))
def test_traffic_csv_fuzz(text: str) -> None:
    try:
        matrix = traffic_from_csv(text)
    except (InvalidTraffic, MalformedFile) as exc:
        assert "\n" not in str(exc)
    else:
        assert np.isfinite(matrix).all() and (matrix >= 0).all()
