"""The job table loader: columns, units, bad values; a hypothesis fuzz of CSV and JSON text."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qenergy import AmbiguousUnits, InvalidJobs, MissingColumn, QenergyError, load_jobs
from qenergy.jobs import read_jobs_text

ROW = {
    "job_id": "a",
    "gpus": 2,
    "duration_s": 600,
    "submit_s": 0,
    "deadline_s": 3600,
    "power_w": 900,
}


def test_loads_and_keeps_features() -> None:
    frame = load_jobs([ROW | {"model": "llama"}, ROW | {"job_id": "b", "model": "bert"}])
    assert list(frame.columns[:6]) == [
        "job_id",
        "gpus",
        "duration_s",
        "submit_s",
        "deadline_s",
        "power_w",
    ]
    assert list(frame["model"]) == ["llama", "bert"]
    assert frame["power_w"].tolist() == [900.0, 900.0]


def test_kw_column_and_unit_strings() -> None:
    kw = {k: v for k, v in ROW.items() if k != "power_w"} | {"power_kw": 0.9}
    assert load_jobs([kw])["power_w"].iloc[0] == pytest.approx(900.0)
    unit = {k: v for k, v in ROW.items() if k != "power_w"} | {"power": "0.9 kW"}
    assert load_jobs([unit])["power_w"].iloc[0] == pytest.approx(900.0)


def test_duration_variants() -> None:
    base = {k: v for k, v in ROW.items() if k != "duration_s"}
    assert load_jobs([base | {"duration_min": 10}])["duration_s"].iloc[0] == 600
    assert load_jobs([base | {"work_gpu_s": 1200}])["duration_s"].iloc[0] == 600


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"power_w": None}, AmbiguousUnits, "power_w"),
        ({"gpus": 1.5}, InvalidJobs, "gpus"),
        ({"gpus": 0}, InvalidJobs, "gpus"),
        ({"deadline_s": -1}, InvalidJobs, "deadline_s"),
        ({"duration_s": "abc"}, InvalidJobs, "duration_s"),
        ({"submit_s": float("nan")}, InvalidJobs, "submit_s"),
        ({"power_w": 0.9}, AmbiguousUnits, "kW"),  # 0.45 W per GPU: a kW value in a W column
        ({"power_w": 9_000_000}, AmbiguousUnits, "power_w"),
    ],
)
def test_bad_values_name_the_field(change: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        load_jobs([ROW | change])


def test_bare_power_without_unit_is_refused() -> None:
    row = {k: v for k, v in ROW.items() if k != "power_w"} | {"power": 900}
    with pytest.raises(AmbiguousUnits, match="no unit"):
        load_jobs([row])


def test_missing_columns() -> None:
    with pytest.raises(MissingColumn, match="deadline_s"):
        load_jobs([{k: v for k, v in ROW.items() if k != "deadline_s"}])
    with pytest.raises(MissingColumn, match="duration_s"):
        load_jobs([{k: v for k, v in ROW.items() if k != "duration_s"}])
    with pytest.raises(MissingColumn, match="power_w"):
        load_jobs([{k: v for k, v in ROW.items() if k != "power_w"}])
    assert "power_w" not in load_jobs(
        [{k: v for k, v in ROW.items() if k != "power_w"}], require_power=False
    )


def test_duplicates_and_two_power_columns() -> None:
    with pytest.raises(InvalidJobs, match="twice"):
        load_jobs([ROW, ROW])
    with pytest.raises(AmbiguousUnits, match="one power column"):
        load_jobs([ROW | {"power_kw": 0.9}])
    with pytest.raises(InvalidJobs, match="no rows"):
        load_jobs(pd.DataFrame(columns=list(ROW)))


def test_csv_and_json_files(tmp_path) -> None:
    csv = tmp_path / "jobs.csv"
    pd.DataFrame([ROW]).to_csv(csv, index=False)
    js = tmp_path / "jobs.json"
    js.write_text(json.dumps({"jobs": [ROW]}))
    assert load_jobs(csv).equals(load_jobs(js))
    with pytest.raises(InvalidJobs, match="empty"):
        read_jobs_text("  ", "csv")


cells = st.one_of(
    st.integers(-5, 10**7),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["", "nan", "1e400", "2.5 kW", "700 W", "12 MW", "-3"]),
    st.none(),
    st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.dictionaries(st.sampled_from([*ROW, "power", "power_kw", "work_gpu_s", "x"]), cells),
        max_size=4,
    )
)
def test_fuzz_json_loader(records: list[dict]) -> None:
    """Any JSON job table: a validated frame (every row kept) or a qenergy error, nothing else."""
    try:
        text = json.dumps(records)
    except ValueError:
        return
    try:
        frame = load_jobs(read_jobs_text(text, "json"))
    except QenergyError:
        return
    assert len(frame) == len(records)
    assert (frame["deadline_s"] > frame["submit_s"]).all() and (frame["duration_s"] > 0).all()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="job_id,gpusdration_smitlW0123456789.-\n kW", max_size=200))
def test_fuzz_csv_loader(text: str) -> None:
    try:
        frame = load_jobs(read_jobs_text(text, "csv"))
    except QenergyError:
        return
    assert frame["job_id"].is_unique
