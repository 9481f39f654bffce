"""Tests for qfed.partition: held-out split, client partitions and their summaries."""

from __future__ import annotations

import numpy as np
import pytest

from qfed.data import TextData
from qfed.errors import DataError, InvalidConfig
from qfed.partition import ClientSummary, partition, partition_summary, train_test_split


def _data(n: int = 3000, classes: int = 3, topics: int | None = 5, seed: int = 0) -> TextData:
    rng = np.random.default_rng(seed)
    # unequal class and topic sizes, like the real corpus
    labels = rng.choice(
        classes, size=n, p=np.linspace(2, 1, classes) / np.linspace(2, 1, classes).sum()
    )
    topic_arr = (
        None
        if topics is None
        else rng.choice(topics, size=n, p=np.arange(1, topics + 1) / (topics * (topics + 1) / 2))
    )
    return TextData(
        texts=tuple(f"row {i}" for i in range(n)),
        labels=labels,
        label_names=tuple(f"c{c}" for c in range(classes)),
        topics=topic_arr,
        topic_names=None if topics is None else tuple(f"t{t}" for t in range(topics)),
    )


def _check_cover(parts: list[np.ndarray], n: int) -> None:
    allrows = np.concatenate(parts)
    assert len(allrows) == n and len(np.unique(allrows)) == n  # disjoint and covering
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)


# ----------------------------------------------------------------------------- train/test


def test_train_test_split_stratified() -> None:
    d = _data()
    train, test = train_test_split(d, test_fraction=0.2, seed=1)
    assert len(test) == 600 and len(train) == 2400
    assert set(train.texts).isdisjoint(test.texts)
    # class shares match within one row per class
    np.testing.assert_allclose(test.label_counts(), d.label_counts() * 0.2, atol=1)
    again = train_test_split(d, test_fraction=0.2, seed=1)[1]
    assert again.texts == test.texts
    assert train_test_split(d, test_fraction=0.2, seed=2)[1].texts != test.texts


def test_train_test_split_unstratified_and_tiny() -> None:
    d = _data(n=50)
    train, test = train_test_split(d, test_fraction=0.1, stratify=False)
    assert (len(train), len(test)) == (45, 5)
    train, test = train_test_split(d.subset([0, 1]), test_fraction=0.9)
    assert (len(train), len(test)) == (1, 1)


@pytest.mark.parametrize("frac", [0, 1, -0.1, 1.5, "0.1"])
def test_train_test_split_bad_fraction(frac: object) -> None:
    with pytest.raises(InvalidConfig, match="test_fraction"):
        train_test_split(_data(n=20), test_fraction=frac)  # type: ignore[arg-type]


def test_train_test_split_too_small() -> None:
    with pytest.raises(DataError, match="at least 2 rows"):
        train_test_split(_data(n=20).subset([0]))


# ----------------------------------------------------------------------------- partition


@pytest.mark.parametrize("method", ["iid", "dirichlet", "topic"])
@pytest.mark.parametrize("num_clients", [1, 3, 5, 12])
def test_partition_disjoint_and_covering(method: str, num_clients: int) -> None:
    d = _data()
    parts = partition(d, num_clients, method=method, seed=3)
    assert len(parts) == num_clients
    _check_cover(parts, len(d))
    assert all(len(p) >= 1 for p in parts)


def test_partition_iid_is_balanced() -> None:
    parts = partition(_data(n=1003), 10, method="iid")
    assert {len(p) for p in parts} == {100, 101}


@pytest.mark.parametrize("method", ["iid", "dirichlet", "topic"])
def test_partition_seed_reproducible(method: str) -> None:
    d = _data()
    a = partition(d, 7, method=method, seed=5)
    b = partition(d, 7, method=method, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = partition(d, 7, method=method, seed=6)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def _mean_entropy(d: TextData, parts: list[np.ndarray]) -> float:
    return float(np.mean([s.label_entropy for s in partition_summary(d, parts)]))


def test_dirichlet_skew_grows_as_alpha_shrinks() -> None:
    d = _data(topics=None)
    entropies = {a: _mean_entropy(d, partition(d, 10, alpha=a, seed=0)) for a in (0.1, 1.0, 100.0)}
    assert entropies[0.1] < entropies[1.0] < entropies[100.0]
    # alpha=100 is close to the global label entropy, alpha=0.1 far below it
    overall = partition_summary(d, [np.arange(len(d))])[0].label_entropy
    assert entropies[100.0] > overall - 0.05
    assert entropies[0.1] < overall - 0.5


def test_dirichlet_min_examples_and_exhausted_tries() -> None:
    d = _data(n=300, topics=None)
    parts = partition(d, 20, alpha=0.5, min_examples=5, seed=1)
    assert min(len(p) for p in parts) >= 5
    with pytest.raises(DataError, match=r"max_tries=2.*raise alpha"):
        partition(d, 100, alpha=0.01, min_examples=2, max_tries=2)


def test_topic_split_fewer_equal_more_clients() -> None:
    d = _data()
    counts = np.bincount(d.topics, minlength=5)
    # as many clients as topics: one topic each
    parts = partition(d, 5, method="topic")
    assert sorted(len(p) for p in parts) == sorted(counts.tolist())
    assert all(len(np.unique(d.topics[p])) == 1 for p in parts)
    # fewer: the smallest topics merge, the largest topic stays whole
    parts = partition(d, 3, method="topic")
    single = [p for p in parts if len(np.unique(d.topics[p])) == 1]
    assert any(len(p) == counts.max() for p in single)
    # more: every client still holds a single topic, the largest topic is split
    parts = partition(d, 9, method="topic")
    assert all(len(np.unique(d.topics[p])) == 1 for p in parts)
    largest = int(np.argmax(counts))
    assert sum(int(d.topics[p][0]) == largest for p in parts) >= 2


def test_topic_split_needs_topics() -> None:
    with pytest.raises(DataError, match=r"needs data\.topics"):
        partition(_data(topics=None), 3, method="topic")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_clients": 0}, "num_clients"),
        ({"num_clients": True}, "num_clients"),
        ({"num_clients": 2.5}, "num_clients"),
        ({"num_clients": 101}, "num_clients"),
        ({"num_clients": 3, "method": "shards"}, "method"),
        ({"num_clients": 3, "alpha": 0}, "alpha"),
        ({"num_clients": 3, "alpha": float("inf")}, "alpha"),
        ({"num_clients": 3, "min_examples": -1}, "min_examples"),
        ({"num_clients": 10, "min_examples": 11}, "min_examples"),
        ({"num_clients": 3, "max_tries": 0}, "max_tries"),
    ],
)
def test_partition_bad_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidConfig, match=field):
        partition(_data(n=100), **kwargs)


# ----------------------------------------------------------------------------- summary


def test_partition_summary() -> None:
    d = _data()
    parts = partition(d, 5, method="topic")
    summary = partition_summary(d, parts)
    assert [s.client for s in summary] == list(range(5))
    for s, p in zip(summary, parts, strict=True):
        assert isinstance(s, ClientSummary)
        assert s.size == len(p) == sum(s.label_counts)
        assert s.dominant_topic_fraction == 1.0 and s.dominant_topic in d.topic_names
        assert 0.0 <= s.label_entropy <= np.log2(3) + 1e-9
        assert s.as_dict()["size"] == s.size
    empty = partition_summary(d, [np.array([], dtype=np.int64)])[0]
    assert (empty.size, empty.dominant_label, empty.dominant_topic) == (0, None, None)
    with pytest.raises(DataError, match="outside"):
        partition_summary(d, [np.array([len(d)])])
