# ruff: noqa: E501  (the DCGM sample lines are quoted verbatim)
"""Telemetry readers on text in each real format; bad files; a hypothesis fuzz of every reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qenergy import AmbiguousUnits, InvalidTelemetry, MissingColumn, QenergyError, load_telemetry
from qenergy.generator import generate_nvidia_smi_csv
from qenergy.telemetry import (
    read_dcgm_prometheus,
    read_dcgm_query_range,
    read_dcgmi_dmon,
    read_nvidia_smi_csv,
    summarize,
)

SMI = """timestamp, index, power.draw [W], utilization.gpu [%]
2024/01/15 10:00:00.123, 0, 245.31 W, 87 %
2024/01/15 10:00:00.125, 1, 71.02 W, 0 %
2024/01/15 10:00:01.123, 0, 300.50 W, 97 %
2024/01/15 10:00:01.125, 1, 70.90 W, 0 %
"""
SMI_NOUNITS = """timestamp, index, power.draw [W], utilization.gpu [%]
2024/01/15 10:00:00.123, 0, 245.31, 87
"""
DCGM = """# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a6158b59",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="n1"} 612.388000 1705312800000
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-8d5053b3",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="n1"} 71.000000 1705312800000
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a6158b59",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="n1"} 96 1705312800000
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a6158b59",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="n1"} 640.0 1705312815000
"""
DMON = """#Entity   POWER   GPUTL
ID        W
GPU 0     612.38  96
GPU 1     71.00   0
GPU 0     640.00  98
GPU 1     70.50   0
"""


def test_nvidia_smi_with_units_and_nounits() -> None:
    frame = read_nvidia_smi_csv(SMI)
    assert frame["power_w"].tolist() == [245.31, 71.02, 300.50, 70.90]
    assert frame["util_pct"].tolist() == [87, 0, 97, 0]
    assert frame["timestamp_s"].iloc[2] - frame["timestamp_s"].iloc[0] == pytest.approx(1.0)
    assert read_nvidia_smi_csv(SMI_NOUNITS)["power_w"].iloc[0] == 245.31
    assert load_telemetry(SMI).equals(frame)


def test_generated_nvidia_smi_round_trips() -> None:
    text = generate_nvidia_smi_csv(np.full((5, 4), 650.0), np.full((5, 4), 95.0), seed=1)
    frame = load_telemetry(text)
    assert len(frame) == 20
    assert summarize(frame)["mean_w"].to_numpy() == pytest.approx(650.0, rel=0.02)


def test_dcgm_exporter_text() -> None:
    frame = read_dcgm_prometheus(DCGM)
    assert len(frame) == 3
    first = frame.iloc[0]
    assert (first["gpu"], first["host"], first["power_w"], first["util_pct"]) == (
        "0",
        "n1",
        612.388,
        96,
    )
    assert load_telemetry(DCGM).equals(frame)
    plain = "\n".join(
        line.rsplit(" ", 1)[0] if line.startswith("DCGM") else line for line in DCGM.splitlines()
    )
    with pytest.raises(InvalidTelemetry, match="no timestamp"):
        read_dcgm_prometheus(plain)
    timed = read_dcgm_prometheus(plain, timestamp_s=[0.0, 15.0])
    assert timed["timestamp_s"].tolist() == [0.0, 0.0, 15.0]


def test_query_range_json() -> None:
    data = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "DCGM_FI_DEV_POWER_USAGE", "gpu": "0", "Hostname": "n1"},
                    "values": [[1705312800, "612.3"], [1705312815, "640"]],
                }
            ],
        },
    }
    frame = read_dcgm_query_range(json.dumps(data))
    assert frame["power_w"].tolist() == [612.3, 640.0]
    assert load_telemetry(json.dumps(data)).equals(frame)


def test_dcgmi_dmon() -> None:
    frame = read_dcgmi_dmon(DMON, interval_ms=500)
    assert frame["timestamp_s"].tolist() == [0.0, 0.0, 0.5, 0.5]
    assert frame["power_w"].tolist() == [612.38, 71.0, 640.0, 70.5]
    assert load_telemetry(DMON).shape == frame.shape


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("", InvalidTelemetry, "empty"),
        ("timestamp, index, power.draw [W]\n", InvalidTelemetry, "empty"),
        (
            "timestamp, index, utilization.gpu [%]\n2024/01/15 10:00:00.1, 0, 5 %\n",
            MissingColumn,
            "power.draw",
        ),
        (
            SMI.replace("2024/01/15 10:00:01.123", "2024/01/15 09:00:01.123"),
            InvalidTelemetry,
            "line 4.*time order",
        ),
        (SMI.replace("300.50 W", "[N/A]"), InvalidTelemetry, "line 4.*N/A"),
        (SMI.replace("300.50 W", "0.3 kW").replace("245.31 W", "0.245"), AmbiguousUnits, "line 2"),
        (
            "timestamp, index, power.draw, utilization.gpu\n2024/01/15 10:00:00.1, 0, 245, 5\n",
            AmbiguousUnits,
            "no unit",
        ),
        (SMI.replace("87 %", "187 %"), InvalidTelemetry, "0-100"),
        (DMON.replace("640.00", "640.00 12"), InvalidTelemetry, "line 5"),
        ("GPU 0 12.0\n", InvalidTelemetry, "unknown format"),
    ],
)
def test_bad_telemetry(text: str, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        load_telemetry(text)


def test_kw_values_with_units_are_converted_not_guessed() -> None:
    frame = read_nvidia_smi_csv(SMI.replace("245.31 W", "0.24531 kW"))
    assert frame["power_w"].iloc[0] == pytest.approx(245.31)


line = st.text(alphabet=st.characters(codec="ascii", exclude_characters="\r"), max_size=60)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(line, max_size=6), st.sampled_from(["nvidia-smi", "prometheus", "query_range", "dmon"])
)
def test_fuzz_readers(lines: list[str], fmt: str) -> None:
    """Any text: a frame whose every row has a finite power and time, or a qenergy error."""
    head = {
        "nvidia-smi": "timestamp, index, power.draw [W], utilization.gpu [%]",
        "dmon": "#Entity POWER GPUTL",
        "prometheus": "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
        "query_range": "",
    }[fmt]
    text = "\n".join([head, *lines])
    try:
        frame = load_telemetry(
            text, fmt=fmt, **({"timestamp_s": 0.0} if fmt == "prometheus" else {})
        )
    except QenergyError:
        return
    assert np.isfinite(frame["power_w"]).all() and np.isfinite(frame["timestamp_s"]).all()
    assert (frame["power_w"] >= 0).all()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["0", "1"]), st.floats(-10, 2000), st.integers(0, 3)),
        min_size=1,
        max_size=8,
    )
)
def test_fuzz_smi_rows_are_all_kept_or_refused(rows: list) -> None:
    text = "timestamp, index, power.draw [W], utilization.gpu [%]\n" + "\n".join(
        f"2024/01/15 10:00:0{t}.000, {g}, {p:.2f} W, 50 %" for g, p, t in rows
    )
    try:
        frame = load_telemetry(text)
    except QenergyError:
        return
    assert len(frame) == len(rows)  # nothing dropped
