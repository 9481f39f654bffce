"""Spaces: construction, validation, the flat and feature views, files, fuzzing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qhpo import Categorical, Float, Int, InvalidSpace, Space, load_space

SPEC = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.99, "condition": {"opt": ["sgd"]}},
}


def test_dict_round_trip_and_views() -> None:
    space = Space.from_dict(SPEC)
    assert Space.from_dict(space.to_dict()) == space
    assert space.n_features == 1 + 1 + 2 + 1
    rng = np.random.default_rng(0)
    for config in space.sample(rng, 200):
        assert space.validate(config) == config
        assert ("momentum" in config) == (config["opt"] == "sgd")
        assert space.from_features(space.features(config)) == pytest.approx(config)
        assert 1e-5 <= config["lr"] <= 1e-1


def test_features_many_matches_features_row_by_row() -> None:
    space = Space.from_dict(SPEC)
    configs = space.sample(np.random.default_rng(1), 50)
    assert any("momentum" in c for c in configs) and not all("momentum" in c for c in configs)
    many = space.features_many(configs)
    assert np.allclose(many, np.stack([space.features(c) for c in configs]), rtol=0, atol=1e-12)
    assert space.features_many([]).shape == (0, space.n_features)
    only_adam = [c for c in configs if c["opt"] == "adam"]
    assert np.all(space.features_many(only_adam)[:, 4] == 0.5)  # momentum inactive everywhere


def test_int_grid_is_covered_evenly() -> None:
    p = Int("k", 1, 4)
    values = [p.from_unit(u) for u in np.linspace(0, 1, 4001)]
    counts = np.bincount(values)[1:]
    assert counts.min() > 0.9 * counts.max()


def test_yaml_file_with_yaml11_exponents(tmp_path: Path) -> None:
    f = tmp_path / "space.yaml"
    f.write_text(
        "lr: {type: float, low: 1e-5, high: 1e-1, log: true}\nk: {type: int, low: 1, high: 3}\n"
    )
    space = load_space(f)
    assert space["lr"] == Float("lr", 1e-5, 1e-1, log=True)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({}, "no parameters"),
        ({"x": {"type": "float", "low": 1, "high": 1}}, "below high"),
        ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, "low > 0"),
        ({"x": {"type": "float", "low": 0, "high": float("nan")}}, "finite"),
        ({"x": {"type": "int", "low": 0.5, "high": 3}}, "integers"),
        ({"x": {"type": "categorical", "choices": []}}, "at least one"),
        ({"x": {"type": "categorical", "choices": ["a", "a"]}}, "duplicates"),
        ({"x": {"type": "gauss"}}, "type"),
        ({"x": {"type": "float", "low": 0, "high": 1, "step": 2}}, "unknown keys"),
        ({"x": {"type": "float", "low": 0}}, "missing"),
        (
            {"x": {"type": "float", "low": 0, "high": 1, "condition": {"opt": ["a"]}}},
            "defined before",
        ),
        (
            {
                "opt": {"type": "categorical", "choices": ["a"]},
                "x": {"type": "float", "low": 0, "high": 1, "condition": {"opt": ["z"]}},
            },
            "not a value",
        ),
    ],
)
def test_bad_spaces_name_the_field(spec: dict, match: str) -> None:
    with pytest.raises(InvalidSpace, match=match):
        Space.from_dict(spec)


def test_duplicate_names_and_validate_errors() -> None:
    with pytest.raises(InvalidSpace, match="twice"):
        Space([Float("x"), Int("x", 0, 2)])
    space = Space([Float("x", 0, 1), Categorical("c", ("a", "b"))])
    with pytest.raises(InvalidSpace, match="unknown"):
        space.validate({"x": 0.5, "c": "a", "y": 1})
    with pytest.raises(InvalidSpace, match="outside"):
        space.validate({"x": 2.0, "c": "a"})
    with pytest.raises(InvalidSpace, match="missing"):
        space.validate({"x": 0.5})
    with pytest.raises(InvalidSpace, match="not one of"):
        space.validate({"x": 0.5, "c": True})


def test_bad_files(tmp_path: Path) -> None:
    for name, text, match in [
        ("a.json", "{", "not valid JSON"),
        ("b.yaml", "x: [", "not valid YAML"),
        ("c.yaml", "", "empty"),
        ("d.txt", "{}", "expected a .json"),
    ]:
        f = tmp_path / name
        f.write_text(text)
        with pytest.raises(InvalidSpace, match=match):
            load_space(f)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=4)
)
values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=4)
)
param_specs = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["float", "int", "categorical", "x"]),
        "low": values,
        "high": values,
        "log": values,
        "choices": values,
        "condition": values,
    },
)


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.one_of(param_specs, values), max_size=4))
def test_fuzz_from_dict_gives_a_space_or_invalid_space(spec: dict) -> None:
    try:
        space = Space.from_dict(spec)
    except InvalidSpace as exc:
        assert "\n" not in str(exc)
        return
    rng = np.random.default_rng(0)
    for config in space.sample(rng, 5):
        assert space.validate(config) == config
    assert Space.from_dict(json.loads(json.dumps(space.to_dict()))) == space


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_yaml_file_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    f = tmp_path_factory.mktemp("y") / "s.yaml"
    f.write_text(text)
    with contextlib.suppress(InvalidSpace):
        load_space(f)
