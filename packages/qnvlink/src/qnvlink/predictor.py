"""Contention predictor: learn from simulator runs which candidate plans are hopeless.

A candidate plan is *hopeless* when its simulated time is more than ``margin`` (20%) above
the fastest candidate for the same job and fabric. Features are cheap (link loads from the
routes, no simulation) and relative to the other candidates of the same job, since "slow"
only means something against the alternatives:

0. log(busiest-link time / the least busy candidate's)   1. log(QAP objective / smallest)
2. log(busiest-link time / the job's injection bound)    3. share of bytes leaving a host
4. mean links crossed per byte                           5. spread (CV) of used link loads
6. log(GPU count)                                         7. share of links within 10% of the
                                                             busiest
Two scikit-learn models: an SVM (RBF kernel on standardised features, balanced classes; the
seeds' "topology classifier") and a gradient-boosting baseline. ``map_ranks(..., skip=p)``
lets a trained predictor drop candidates before they are simulated (the least congested
candidate is always kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from qnvlink.errors import UnknownMethod
from qnvlink.fabric import Fabric
from qnvlink.metrics import evaluate, hop_time, lower_bound
from qnvlink.partition import metis_map
from qnvlink.placement import greedy, local_search, symmetric_weights
from qnvlink.simulate import build_flows, link_loads

__all__ = [
    "ContentionPredictor",
    "Dataset",
    "candidate_features",
    "candidate_mappings",
    "make_dataset",
]

FEATURES = (
    "log_congestion_vs_best",
    "log_objective_vs_best",
    "log_congestion_vs_bound",
    "cross_host_share",
    "mean_hops",
    "load_cv",
    "log_gpus",
    "hot_link_share",
)


def _raw(fabric: Fabric, traffic: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    flows = build_flows(fabric, traffic, mapping)
    loads = link_loads(flows)
    busy = loads / fabric.capacity
    peak = float(busy.max()) if busy.size else 0.0
    used = busy[busy > 0]
    hosts = np.array(fabric.gpu_attr("host"), dtype=object)
    cross = hosts[mapping[flows.src]] != hosts[mapping[flows.dst]]
    total = float(flows.nbytes.sum()) or 1.0
    return np.array(
        [
            peak,
            hop_time(fabric, traffic, mapping),
            float(flows.nbytes[cross].sum()) / total,
            float((flows.nbytes * flows.hops).sum()) / total,
            float(used.std() / used.mean()) if used.size else 0.0,
            float(np.mean(used >= 0.9 * peak)) if used.size else 0.0,
        ]
    )


def candidate_features(
    fabric: Fabric, traffic: np.ndarray, mappings: dict[str, np.ndarray]
) -> tuple[list[str], np.ndarray]:
    """Feature rows (``FEATURES``) for a job's candidate mappings, relative to each other."""
    names = list(mappings)
    raw = np.array([_raw(fabric, traffic, mappings[k]) for k in names])
    tiny = 1e-30
    bound = max(lower_bound(fabric, traffic), tiny)
    rows = np.column_stack(
        [
            np.log((raw[:, 0] + tiny) / (raw[:, 0].min() + tiny)),
            np.log((raw[:, 1] + tiny) / (raw[:, 1].min() + tiny)),
            np.log((raw[:, 0] + tiny) / bound),
            raw[:, 2],
            raw[:, 3],
            raw[:, 4],
            np.full(len(names), np.log(fabric.num_gpus)),
            raw[:, 5],
        ]
    )
    return names, rows


def candidate_mappings(
    fabric: Fabric, traffic: np.ndarray, seed: int, randoms: int = 4
) -> dict[str, np.ndarray]:
    """The planner's candidates plus seeded random and perturbed placements (for training)."""
    n, size = traffic.shape[0], fabric.num_gpus
    rng = np.random.default_rng(seed)
    weights = symmetric_weights(traffic, size)
    distance = (fabric.distance + fabric.distance.T) / 2
    out = {"identity": np.arange(n)}
    out["greedy"] = greedy(weights, distance)[:n]
    metis = metis_map(fabric, weights, n, seed=seed)
    out["metis"] = metis[:n]
    out["metis+local"] = local_search(weights, distance, metis, seed=seed, active=n)[0][:n]
    for k in range(randoms):
        out[f"random{k}"] = rng.permutation(size)[:n]
        perturbed = np.concatenate([out["greedy"], np.setdiff1d(np.arange(size), out["greedy"])])
        for _ in range(max(1, n // 8)):
            a, b = rng.integers(size, size=2)
            perturbed[[a, b]] = perturbed[[b, a]]
        out[f"perturbed{k}"] = perturbed[:n]
    return out


@dataclass
class Dataset:
    features: np.ndarray
    labels: np.ndarray  # 1 = hopeless
    groups: list[str]  # fabric family of each row (for held-out splits)
    ratios: np.ndarray  # simulated time / fastest candidate's


def make_dataset(
    cases: Iterable[tuple[str, Fabric, np.ndarray]], *, seed: int = 0, margin: float = 0.2
) -> Dataset:
    """Simulate every candidate of every ``(family, fabric, traffic)`` case and label it."""
    feats, labels, groups, ratios = [], [], [], []
    for i, (family, fabric, traffic) in enumerate(cases):
        mappings = candidate_mappings(fabric, traffic, seed + i)
        names, rows = candidate_features(fabric, traffic, mappings)
        times = np.array([evaluate(fabric, traffic, mappings[k]).sim_time_s for k in names])
        ratio = times / times.min()
        feats.append(rows)
        labels.append((ratio > 1 + margin).astype(int))
        ratios.append(ratio)
        groups += [family] * len(names)
    return Dataset(np.vstack(feats), np.concatenate(labels), groups, np.concatenate(ratios))


class ContentionPredictor:
    """``kind="svm"`` (SVC, RBF) or ``"gbt"`` (gradient boosting); seeded."""

    def __init__(self, kind: str = "svm", seed: int = 0) -> None:
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        if kind == "svm":
            self.model = make_pipeline(
                StandardScaler(),
                SVC(kernel="rbf", C=3.0, class_weight="balanced", random_state=seed),
            )
        elif kind == "gbt":
            self.model = GradientBoostingClassifier(random_state=seed)
        else:
            raise UnknownMethod(f"kind: is {kind!r}; use 'svm' or 'gbt'.")
        self.kind = kind
        self.fitted = False

    def fit(self, data: Dataset) -> ContentionPredictor:
        if len(set(data.labels.tolist())) < 2:
            raise UnknownMethod("labels: the training set has one class only; add cases.")
        self.model.fit(data.features, data.labels)
        self.fitted = True
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise UnknownMethod("predictor: call fit() before predict().")
        return np.asarray(self.model.predict(features), dtype=int)

    def score(self, data: Dataset) -> dict[str, float]:
        """Precision and recall of "hopeless" on ``data``."""
        from sklearn.metrics import precision_score, recall_score

        predicted = self.predict(data.features)
        return {
            "precision": float(precision_score(data.labels, predicted, zero_division=0)),
            "recall": float(recall_score(data.labels, predicted, zero_division=0)),
            "positives": int(data.labels.sum()),
            "rows": len(data.labels),
        }

    def __call__(
        self, fabric: Fabric, traffic: np.ndarray, mappings: dict[str, np.ndarray]
    ) -> set[str]:
        """The candidates to skip (never the least congested one)."""
        names, rows = candidate_features(fabric, traffic, mappings)
        hopeless = self.predict(rows)
        keep = int(np.argmin(rows[:, 0]))
        return {name for i, name in enumerate(names) if hopeless[i] and i != keep}
