"""The method chooser: tries every method, then exploits the best; its record persists."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qenergy import InvalidParameter, generate_instance
from qenergy.chooser import ARMS, MethodChooser, instance_class
from qenergy.instance import build_instance
from qenergy.schedule import schedule_instance


def test_tries_each_arm_then_exploits(tmp_path) -> None:
    path = tmp_path / "record.json"
    jobs, cluster = generate_instance(12, seed=2)
    inst = build_instance(jobs, cluster)
    chooser = MethodChooser(path)
    picked = []
    for seed in range(len(ARMS)):
        arm = chooser.choose(inst, "peak", seed=seed)
        picked.append(arm)
        result = schedule_instance(inst, arm, "peak", seed=seed, time_limit=1.0)
        chooser.record(inst, "peak", result)
    assert sorted(picked) == sorted(ARMS)  # every arm once before any repeats
    again = MethodChooser(path)  # the record survives a restart
    assert len(again.runs) == len(ARMS)
    stats = again.stats(instance_class(inst, "peak"))
    best = max(stats, key=lambda a: stats[a][1])
    again.exploration = 0.0
    assert again.choose(inst, "peak") == best


def test_schedule_with_chooser_records(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("QENERGY_CHOOSER_RECORD", str(tmp_path / "r.json"))
    jobs, cluster = generate_instance(10, seed=1)
    inst = build_instance(jobs, cluster)
    result = schedule_instance(inst, "chooser", "energy", time_limit=1.0)
    assert result.feasible and result.method.startswith("chooser:")
    runs = json.loads((tmp_path / "r.json").read_text())
    assert len(runs) == 1 and runs[0]["method"] == result.info["chooser_picked"]


def test_corrupt_record_is_refused(tmp_path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(InvalidParameter, match="record"):
        MethodChooser(path)
    path.write_text('[{"x": 1}]')
    with pytest.raises(InvalidParameter, match="record"):
        MethodChooser(path)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4)),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_fuzz_record_loader(tmp_path_factory, data) -> None:
    """Any JSON in the record file: a chooser or an InvalidParameter, nothing else."""
    path = tmp_path_factory.mktemp("rec") / "r.json"
    path.write_text(json.dumps(data))
    try:
        chooser = MethodChooser(path)
    except InvalidParameter:
        return
    assert all(isinstance(r["reward"], int | float) for r in chooser.runs)
    assert chooser.stats("size0/peak/nocaps").keys() == set(ARMS)
