"""Warm starts from CSV/JSON, partly overlapping spaces, and bad prior files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qhpo
from qhpo import Categorical, Float, Int, InvalidWarmStart, Space, Study, load_prior

SPACE = Space(
    [Float("lr", 1e-4, 1.0, log=True), Int("rank", 1, 16), Categorical("opt", ("adam", "sgd"))]
)


def test_csv_warm_start_feeds_the_study(tmp_path: Path) -> None:
    f = tmp_path / "prior.csv"
    f.write_text("lr,rank,opt,value\n0.01,4,adam,0.3\n0.1,8,sgd,0.5\n0.001,2,adam,nan\n")
    study = Study(SPACE, "gp", seed=0)
    report = study.warm_start(f)
    assert len(report.trials) == 3 and report.n_failed == 1
    assert [t.source for t in study.trials] == ["warm-start"] * 3
    assert study.best_params == {"lr": 0.01, "rank": 4, "opt": "adam"}
    assert len(study.failed) == 1


def test_json_records_and_study_file(tmp_path: Path) -> None:
    records = [{"params": {"lr": 0.05, "rank": 3, "opt": "sgd"}, "value": 1.0}]
    assert load_prior(records, SPACE).trials[0][1] == 1.0
    store = tmp_path / "old.json"
    old = Study(SPACE, "random", seed=0, storage=store)
    for _ in range(3):
        t = old.ask()
        old.tell(t, t.params["lr"])
    report = load_prior(store, SPACE)
    assert len(report.trials) == 3


def test_partly_overlapping_spaces(tmp_path: Path) -> None:
    f = tmp_path / "prior.json"
    f.write_text(json.dumps([{"lr": 0.01, "rank": 4, "dropout": 0.1, "value": 0.2}]))
    with pytest.raises(InvalidWarmStart, match="dropout"):
        load_prior(f, SPACE)
    with pytest.raises(InvalidWarmStart, match=r"defaults=\{"):
        load_prior(f, SPACE, unknown="ignore")
    report = load_prior(f, SPACE, unknown="ignore", defaults={"opt": "adam"})
    assert report.ignored_params == ["dropout"]
    assert report.trials == [({"lr": 0.01, "rank": 4, "opt": "adam"}, 0.2)]
    skipped = load_prior(f, SPACE, unknown="ignore", missing="skip")
    assert skipped.trials == [] and "opt" in skipped.skipped_rows[0]


def test_values_outside_the_space(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("lr,rank,opt,value\n5.0,4,adam,0.3\n0.01,4,adam,0.2\n")
    with pytest.raises(InvalidWarmStart, match=r"trial 0: lr: 5\.0 is outside"):
        load_prior(f, SPACE)
    report = load_prior(f, SPACE, outside="skip")
    assert len(report.trials) == 1 and len(report.skipped_rows) == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no header"),
        ("lr,rank,opt\n0.1,2,adam\n", "no 'value'"),
        ("lr,rank,opt,value\n0.1,2,adam,abc\n", "not a number"),
        ("lr,rank,opt,value\n0.1,2.5,adam,1\n", "not an integer"),
        ("lr,rank,opt,value\n0.1,2,rmsprop,1\n", "not one of"),
        ("lr,lr,value\n1,1,1\n", "duplicate"),
        ("lr,rank,opt,value\n0.1,2,adam,1,9\n", "more cells"),
        ("lr,rank,opt,value\n", "no trials"),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "p.csv"
    f.write_text(text)
    with pytest.raises(InvalidWarmStart, match=match):
        load_prior(f, SPACE)


def test_warm_start_through_minimize(tmp_path: Path) -> None:
    space = Space([Float("x", 0, 1)])
    prior = [{"x": 0.31, "value": 0.0001}]
    result = qhpo.minimize(lambda c: (c["x"] - 0.3) ** 2, space, 6, "gp", seed=0, warm_start=prior)
    assert result.trials[0].source == "warm-start"
    assert len(result.trials) == 7


cells = st.text(alphabet="0123456789.,-einfaNdamsgx\n ", max_size=80)


@settings(max_examples=80, deadline=None)
@given(cells)
def test_fuzz_csv_loader(tmp_path_factory: pytest.TempPathFactory, body: str) -> None:
    f = tmp_path_factory.mktemp("w") / "p.csv"
    f.write_text("lr,rank,opt,value\n" + body)
    try:
        report = load_prior(f, SPACE, unknown="ignore", missing="skip", outside="skip")
    except InvalidWarmStart as exc:
        assert "\n" not in str(exc)
        return
    for config, _ in report.trials:
        assert SPACE.validate(config) == config


@settings(max_examples=80, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=5) | st.integers(),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(["lr", "rank", "opt", "value", "params", "trials", "x"]),
                c,
                max_size=4,
            )
        ),
    )
)
def test_fuzz_json_records(data: object) -> None:
    try:
        load_prior(data if isinstance(data, list) else [data], SPACE)
    except InvalidWarmStart as exc:
        assert "\n" not in str(exc)
