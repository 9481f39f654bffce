"""NAB folders are read exactly or refused naming the file, row and column; a fuzzed CSV
either parses or raises MalformedNabDirectory, never anything else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qops.errors import MalformedNabDirectory
from qops.nab.corpus import load_corpus, read_results, read_series

FIXTURE = Path(__file__).parent / "data" / "nab"
WG = "windowedGaussian"


@pytest.fixture
def nab(tmp_path: Path) -> Path:
    root = tmp_path / "nab"
    shutil.copytree(FIXTURE, root)
    return root


def test_fixture_corpus_loads_with_windows_as_row_indices() -> None:
    corpus = load_corpus(FIXTURE)
    assert len(corpus.series) == 3 and corpus.window_count == 6
    series = corpus.series["realKnownCause/rogue_agent_key_hold.csv"]
    (left, right), _ = corpus.windows["realKnownCause/rogue_agent_key_hold.csv"]
    assert str(series.timestamps[left]) == "2014-07-15T04:35:00"
    assert str(series.timestamps[right]) == "2014-07-15T13:25:00"
    scores = read_results(FIXTURE / "results" / WG, corpus)
    assert all(np.all((s >= 0) & (s <= 1)) for s in scores.values())


def test_missing_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(MalformedNabDirectory, match="no data/ folder"):
        load_corpus(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(MalformedNabDirectory, match=r"combined_windows\.json"):
        load_corpus(tmp_path)


def test_a_window_at_a_time_that_is_not_a_row_is_refused(nab: Path) -> None:
    labels = nab / "labels" / "combined_windows.json"
    windows = json.loads(labels.read_text())
    windows["realKnownCause/rogue_agent_key_hold.csv"][0][0] = "2014-07-15 04:36:00.000000"
    labels.write_text(json.dumps(windows))
    with pytest.raises(MalformedNabDirectory, match="2014-07-15T04:36:00 is not a row"):
        load_corpus(nab)


def test_a_data_file_without_windows_is_refused(nab: Path) -> None:
    labels = nab / "labels" / "combined_windows.json"
    windows = json.loads(labels.read_text())
    del windows["realKnownCause/rogue_agent_key_hold.csv"]
    labels.write_text(json.dumps(windows))
    with pytest.raises(MalformedNabDirectory, match="no windows listed"):
        load_corpus(nab)


def test_bad_cells_are_named_by_row_and_column(nab: Path) -> None:
    path = nab / "data" / "realKnownCause" / "rogue_agent_key_hold.csv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].split(",")[0] + ",abc"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedNabDirectory, match="row 6, column 'value': 'abc'"):
        load_corpus(nab)
    lines[5] = lines[5].split(",")[0] + ",nan"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedNabDirectory, match="row 6, column 'value': non-finite"):
        load_corpus(nab)
    lines[5] = "yesterday,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedNabDirectory, match="row 6, column 'timestamp': 'yesterday'"):
        load_corpus(nab)


def test_results_folders_are_checked_against_the_data(nab: Path) -> None:
    corpus = load_corpus(nab)
    results = nab / "results" / WG
    with pytest.raises(MalformedNabDirectory, match="not a directory"):
        read_results(nab / "results" / "nothing", corpus)
    target = results / "realKnownCause" / f"{WG}_rogue_agent_key_hold.csv"
    lines = target.read_text().splitlines()
    target.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(MalformedNabDirectory, match="rows, the data file has"):
        read_results(results, corpus)
    lines[3] = "2000-01-01 00:00:00,0.5"
    target.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedNabDirectory, match="row 4, column 'timestamp'"):
        read_results(results, corpus)
    target.write_text("timestamp,score\n")
    with pytest.raises(MalformedNabDirectory, match="missing column"):
        read_results(results, corpus)
    target.unlink()
    with pytest.raises(MalformedNabDirectory, match="missing results file"):
        read_results(results, corpus)


CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.sampled_from(["timestamp,value", "value,timestamp", "timestamp", "", "a,b"]),
    rows=st.lists(st.tuples(CELL, CELL), max_size=6),
    raw=st.binary(max_size=40),
)
def test_fuzzed_csv_parses_or_is_refused_cleanly(
    tmp_path: Path, header: str, rows: list[tuple[str, str]], raw: bytes
) -> None:
    path = tmp_path / "fuzz.csv"
    text = header + "\n" + "\n".join(f"{a},{b}" for a, b in rows)
    for body in (text.encode("utf-8", "surrogatepass"), raw):
        path.write_bytes(body)
        try:
            series = read_series(path, "cat/fuzz.csv")
        except MalformedNabDirectory as exc:
            assert str(path) in str(exc)
        else:
            assert series.values.size == series.timestamps.size > 0
            assert np.all(np.isfinite(series.values))
