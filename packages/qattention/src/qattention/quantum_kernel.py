"""Quantum-kernel attention and a quantum-kernel SVM (PennyLane, extra ``quantum``): an
experiment for tiny dimensions, against the RBF kernel on the same data.

The feature map is the IQP / "ZZ" embedding of Havlicek et al. (2019): Hadamards, Z rotations
by the features, ZZ rotations by products of feature pairs, repeated ``layers`` times, one
qubit per feature. The kernel is the fidelity ``k(x, y) = |<phi(x)|phi(y)>|^2``. Everything is
SIMULATED on PennyLane's ``default.qubit`` state-vector simulator: the states of all inputs
are computed once (N circuits of ``n_qubits`` qubits) and the kernel matrix is
``|Phi_x Phi_y^H|^2``, which is exact for a noiseless device (a real device would estimate
each entry from shots, N^2 circuits). The state vector has ``2^n_qubits`` amplitudes, so the
cost is exponential in the dimension: ``n_qubits`` is capped at 12.

- ``quantum_kernel(x, y)``: the kernel matrix.
- ``quantum_kernel_attention(q, k, v)``: attention whose weights are the kernel values
  normalised per query (``K_ij / sum_j K_ij``) instead of ``softmax(q.k / sqrt(d))``.
- ``QuantumKernelSVM``: scikit-learn's ``SVC(kernel="precomputed")`` on that kernel.
- ``compare_kernels``: quantum vs RBF SVM on scikit-learn's breast-cancer set reduced by PCA
  to ``n_qubits`` dims: accuracy and wall time of both.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from qattention.errors import InvalidArgument, InvalidShape, missing_extra

MAX_QUBITS = 12


def _pennylane():
    try:
        import pennylane as qml
    except ImportError as exc:
        raise missing_extra("quantum", "the quantum kernel", exc) from exc
    return qml


def _check_layers(layers: object) -> int:
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise InvalidArgument(f"layers must be a positive integer, got {layers!r}")
    return layers


def _features(x: object, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise InvalidShape(f"{name} must be a 2-D array (samples, features), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise InvalidArgument(f"{name} must hold finite numbers")
    if not 1 <= arr.shape[1] <= MAX_QUBITS:
        raise InvalidShape(
            f"{name} has {arr.shape[1]} features; the simulated feature map uses one qubit per "
            f"feature and allows 1..{MAX_QUBITS} (reduce with PCA first)"
        )
    return arr.astype(np.float64)


def feature_states(x: object, layers: int = 2) -> np.ndarray:
    """State vectors ``(N, 2^d)`` of the IQP feature map for inputs ``x (N, d)``."""
    qml = _pennylane()
    arr = _features(x, "x")
    layers = _check_layers(layers)
    n = arr.shape[1]
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev)
    def circuit(features):
        qml.IQPEmbedding(features, wires=range(n), n_repeats=layers)
        return qml.state()

    return np.stack([np.asarray(circuit(row)) for row in arr])


def quantum_kernel(x: object, y: object | None = None, *, layers: int = 2) -> np.ndarray:
    """Fidelity kernel ``|<phi(x_i)|phi(y_j)>|^2`` (``y`` defaults to ``x``), ``(N, M)``."""
    sx = feature_states(x, layers)
    sy = sx if y is None else feature_states(y, layers)
    if sx.shape[1] != sy.shape[1]:
        raise InvalidShape("x and y must have the same number of features")
    return np.abs(sx.conj() @ sy.T) ** 2


def quantum_kernel_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, layers: int = 2
) -> torch.Tensor:
    """``(L, Ev)`` outputs: weights ``K(q_i, k_j) / sum_j K(q_i, k_j)``, ``q (L, d)``,
    ``k (S, d)``, ``v (S, Ev)``, d <= 12 (one qubit per dim). Not differentiable: the kernel
    is computed by the simulator outside autograd."""
    if not isinstance(v, torch.Tensor) or v.dim() != 2:
        raise InvalidShape("v must be a 2-D tensor (S, Ev)")
    if isinstance(k, torch.Tensor) and k.shape[0] != v.shape[0]:
        raise InvalidShape(f"k has {k.shape[0]} rows, v has {v.shape[0]}")
    kernel = torch.as_tensor(quantum_kernel(q, k, layers=layers), dtype=v.dtype, device=v.device)
    weights = kernel / kernel.sum(dim=1, keepdim=True).clamp(min=1e-30)
    return weights @ v


class QuantumKernelSVM:
    """A support-vector classifier on the quantum fidelity kernel (scikit-learn's SVC)."""

    def __init__(self, *, layers: int = 2, C: float = 1.0) -> None:
        self.layers = _check_layers(layers)
        if isinstance(C, bool) or not isinstance(C, int | float) or not C > 0:
            raise InvalidArgument(f"C must be a positive number, got {C!r}")
        self.C = float(C)
        self._train: np.ndarray | None = None
        self._svc = None

    def fit(self, x: object, y: object) -> QuantumKernelSVM:
        try:
            from sklearn.svm import SVC
        except ImportError as exc:
            raise missing_extra("quantum", "QuantumKernelSVM", exc) from exc
        arr = _features(x, "x")
        labels = np.asarray(y)
        if labels.shape != (arr.shape[0],):
            raise InvalidShape(f"y must have one label per row of x ({arr.shape[0]})")
        self._train = arr
        self._svc = SVC(kernel="precomputed", C=self.C).fit(
            quantum_kernel(arr, layers=self.layers), labels
        )
        return self

    def predict(self, x: object) -> np.ndarray:
        if self._svc is None:
            raise InvalidArgument("call fit before predict")
        return self._svc.predict(quantum_kernel(x, self._train, layers=self.layers))

    def score(self, x: object, y: object) -> float:
        return float(np.mean(self.predict(x) == np.asarray(y)))


@dataclass(frozen=True)
class KernelComparison:
    """Quantum vs RBF SVM on one split: accuracies, wall seconds, sizes."""

    n_qubits: int
    train: int
    test: int
    quantum_accuracy: float
    rbf_accuracy: float
    quantum_s: float
    rbf_s: float
    attention_rel_diff: float

    def markdown(self) -> str:
        return (
            f"breast_cancer (scikit-learn), PCA to {self.n_qubits} dims scaled to [0, pi], "
            f"{self.train} train / {self.test} test; quantum kernel simulated on "
            f"default.qubit ({2**self.n_qubits} amplitudes per state)\n\n"
            "| kernel | test accuracy | wall s (fit + predict) |\n|---|---|---|\n"
            f"| quantum (IQP, 2 layers) | {self.quantum_accuracy:.3f} | {self.quantum_s:.2f} |\n"
            f"| RBF (gamma='scale') | {self.rbf_accuracy:.3f} | {self.rbf_s:.4f} |\n\n"
            f"quantum-kernel attention vs softmax attention on the same features: relative "
            f"output difference {self.attention_rel_diff:.3f}; cost ratio quantum / RBF "
            f"{self.quantum_s / max(self.rbf_s, 1e-9):.0f}x"
        )


def compare_kernels(
    *, n_qubits: int = 4, train: int = 80, test: int = 80, seed: int = 0
) -> KernelComparison:
    """Quantum-kernel SVM vs RBF SVM on breast_cancer reduced to ``n_qubits`` PCA dims."""
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import MinMaxScaler, StandardScaler
        from sklearn.svm import SVC
    except ImportError as exc:
        raise missing_extra("quantum", "compare_kernels", exc) from exc
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or not 1 <= n_qubits <= 12:
        raise InvalidArgument(f"n_qubits must be an integer in 1..{MAX_QUBITS}, got {n_qubits!r}")
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    if train < 2 or test < 1 or train + test > len(y):
        raise InvalidArgument(f"train >= 2, test >= 1 and train + test <= {len(y)}")
    tr, te = order[:train], order[train : train + test]
    scaler = StandardScaler().fit(x[tr])
    pca = PCA(n_components=n_qubits, random_state=seed).fit(scaler.transform(x[tr]))
    mm = MinMaxScaler((0, math.pi)).fit(pca.transform(scaler.transform(x[tr])))

    def prep(rows: np.ndarray) -> np.ndarray:
        return np.clip(mm.transform(pca.transform(scaler.transform(x[rows]))), 0, math.pi)

    xtr, xte = prep(tr), prep(te)
    start = time.perf_counter()
    q_acc = QuantumKernelSVM().fit(xtr, y[tr]).score(xte, y[te])
    q_s = time.perf_counter() - start
    start = time.perf_counter()
    r_acc = float(SVC(kernel="rbf", gamma="scale").fit(xtr, y[tr]).score(xte, y[te]))
    r_s = time.perf_counter() - start
    q_t, k_t = torch.tensor(xte[:16]), torch.tensor(xtr[:32])
    v_t = torch.eye(k_t.shape[0], dtype=torch.float64)
    quantum = quantum_kernel_attention(q_t, k_t, v_t)
    softmax = torch.softmax(q_t @ k_t.T / math.sqrt(n_qubits), dim=1)
    diff = float((quantum - softmax).norm() / softmax.norm())
    return KernelComparison(n_qubits, train, test, q_acc, r_acc, q_s, r_s, diff)
