"""Prediction-space combining of member outputs ``[members, samples, classes]``.

Each function is named for what it computes. The seeds' "superposition" weighting is
:func:`softmax_score_weights` (weights are a softmax of validation scores; its "amplitudes"
are their square roots, :func:`amplitudes`), and its "entanglement" weighting is
:func:`correlation_weights` (members whose predictions correlate count less).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qensemble._checks import check_labels, check_probs
from qensemble.errors import EmptyEnsemble, InvalidParameter, MemberShapeMismatch

__all__ = [
    "StackingCombiner",
    "amplitudes",
    "confidence_weighted",
    "correlation_weights",
    "majority_vote",
    "mean_probs",
    "softmax_score_weights",
    "weighted_mean",
]


def mean_probs(probs: Any) -> np.ndarray:
    """Plain averaging of the members' class probabilities."""
    return check_probs(probs).mean(axis=0)


def weighted_mean(probs: Any, weights: Any) -> np.ndarray:
    """``sum_m w_m p_m`` with the weights normalised to sum to one."""
    p = check_probs(probs)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (p.shape[0],):
        raise MemberShapeMismatch(
            f"weights: has shape {w.shape}; pass one weight per member ({p.shape[0]})."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidParameter("weights: must be finite, non-negative and not all zero.")
    return np.tensordot(w / w.sum(), p, axes=1)


def majority_vote(probs: Any) -> np.ndarray:
    """One-hot class votes per member, counted; returned as vote fractions ``[samples, classes]``.

    Ties go to the class with the higher mean probability (then the lower index), so the
    argmax of the result is the vote winner.
    """
    p = check_probs(probs)
    members, _, classes = p.shape
    votes = np.eye(classes)[p.argmax(axis=2)].sum(axis=0) / members
    # A tie-break far below one vote's weight (1/members) that never changes a clear winner.
    return votes + p.mean(axis=0) * (1e-3 / members)


def confidence_weighted(probs: Any) -> np.ndarray:
    """Per sample, each member weighted by its confidence (its top class probability)."""
    p = check_probs(probs)
    confidence = p.max(axis=2, keepdims=True)  # [members, samples, 1]
    total = np.maximum(confidence.sum(axis=0), 1e-12)
    return (confidence * p).sum(axis=0) / total


def softmax_score_weights(scores: Any, temperature: float = 0.05) -> np.ndarray:
    """Weights ``softmax(scores / temperature)`` of the members' validation scores.

    With accuracies as scores, ``temperature=0.05`` gives a member 1 point better about
    ``e^0.2 = 1.22`` times the weight. (The seeds called this "superposition".)
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise EmptyEnsemble("scores: pass one validation score per member (at least one).")
    if not np.all(np.isfinite(s)):
        raise InvalidParameter("scores: contains NaN or inf; pass finite validation scores.")
    if isinstance(temperature, bool) or not np.isfinite(temperature) or temperature <= 0:
        raise InvalidParameter(f"temperature: is {temperature!r}; pass a positive number.")
    z = (s - s.max()) / float(temperature)
    w = np.exp(z)
    return w / w.sum()


def amplitudes(weights: Any) -> np.ndarray:
    """``sqrt(weights)``: unit-norm "amplitudes" whose squares are the weights."""
    w = np.asarray(weights, dtype=np.float64)
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise InvalidParameter("weights: pass non-negative weights that sum to 1.")
    return np.sqrt(w)


def correlation_weights(probs: Any) -> np.ndarray:
    """Weights that discount redundancy: ``w_m ∝ 1 / sum_j max(0, corr(m, j))``.

    ``corr`` is the Pearson correlation of the members' flattened (validation) probability
    vectors. An independent member has row sum 1 (itself) and weight 1; ``k`` identical copies
    of a member each get ``1/k``, so together they count as one member.
    """
    p = check_probs(probs)
    members = p.shape[0]
    if members == 1:
        return np.ones(1)
    flat = p.reshape(members, -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    safe = np.where(norms > 1e-12, norms, 1.0)
    corr = (centred @ centred.T) / np.outer(safe, safe)
    # A constant member (zero variance) is treated as uncorrelated with the rest.
    flat_members = norms <= 1e-12
    corr[flat_members, :] = 0.0
    corr[:, flat_members] = 0.0
    np.fill_diagonal(corr, 1.0)
    redundancy = np.clip(corr, 0.0, 1.0).sum(axis=1)
    w = 1.0 / redundancy
    return w / w.sum()


class StackingCombiner:
    """Stacking: a logistic-regression meta-learner on the members' concatenated probabilities.

    Fit it on held-out (validation) predictions, never on the members' own training data.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, seed: int = 0) -> None:
        if isinstance(C, bool) or not np.isfinite(C) or C <= 0:
            raise InvalidParameter(f"C: is {C!r}; pass a positive inverse regularisation.")
        self.C = float(C)
        self.max_iter = int(max_iter)
        self.seed = seed
        self._model: Any = None
        self._shape: tuple[int, int] | None = None

    @staticmethod
    def _features(p: np.ndarray) -> np.ndarray:
        return p.transpose(1, 0, 2).reshape(p.shape[1], -1)

    def fit(self, probs: Any, y: Any) -> StackingCombiner:
        from sklearn.linear_model import LogisticRegression

        p = check_probs(probs)
        labels = check_labels(y, p.shape[1], p.shape[2])
        if np.unique(labels).size < 2:
            raise InvalidParameter("y: has a single class; stacking needs at least two.")
        self._model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        self._model.fit(self._features(p), labels)
        self._shape = (p.shape[0], p.shape[2])
        return self

    def predict_proba(self, probs: Any) -> np.ndarray:
        if self._model is None or self._shape is None:
            raise EmptyEnsemble("StackingCombiner: call fit(val_probs, y_val) before predicting.")
        p = check_probs(probs)
        if (p.shape[0], p.shape[2]) != self._shape:
            raise MemberShapeMismatch(
                f"probs: has {p.shape[0]} members x {p.shape[2]} classes but the combiner was "
                f"fitted on {self._shape[0]} x {self._shape[1]}."
            )
        out = np.zeros((p.shape[1], p.shape[2]))
        out[:, self._model.classes_] = self._model.predict_proba(self._features(p))
        return out
