"""Quantum fidelity kernel (PennyLane simulator): kernel properties, the SVM, attention,
and the missing-extra message."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from qattention.errors import InvalidArgument, InvalidShape

qml = pytest.importorskip("pennylane")
pytest.importorskip("sklearn")

from qattention.quantum_kernel import (  # noqa: E402
    QuantumKernelSVM,
    compare_kernels,
    feature_states,
    quantum_kernel,
    quantum_kernel_attention,
)


def test_kernel_is_a_fidelity_matrix():
    x = np.random.default_rng(0).uniform(0, np.pi, size=(6, 3))
    k = quantum_kernel(x)
    assert np.allclose(np.diag(k), 1.0)
    assert np.allclose(k, k.T)
    assert np.all(np.linalg.eigvalsh(k) > -1e-10)
    assert np.all((k >= -1e-12) & (k <= 1 + 1e-12))


def test_kernel_entry_equals_the_overlap_circuit():
    # the swap-free overlap test: U(y)^dagger U(x)|0>, probability of |0...0>
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, np.pi, 3), rng.uniform(0, np.pi, 3)
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def overlap():
        qml.IQPEmbedding(x, wires=range(3), n_repeats=2)
        qml.adjoint(qml.IQPEmbedding)(y, wires=range(3), n_repeats=2)
        return qml.probs(wires=range(3))

    assert quantum_kernel(x[None], y[None])[0, 0] == pytest.approx(float(overlap()[0]), abs=1e-10)
    assert feature_states(x[None]).shape == (1, 8)


def test_svm_learns_a_separable_problem_and_attention_weights_sum_to_one():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, np.pi, size=(40, 2))
    y = (x[:, 0] > np.pi / 2).astype(int)
    svm = QuantumKernelSVM(C=10.0).fit(x[:30], y[:30])
    assert svm.score(x[30:], y[30:]) >= 0.8
    q, k = torch.tensor(x[:4]), torch.tensor(x[4:10])
    out = quantum_kernel_attention(q, k, torch.ones(6, 2, dtype=torch.float64))
    assert torch.allclose(out, torch.ones(4, 2, dtype=torch.float64))


def test_compare_kernels_reports_both():
    report = compare_kernels(n_qubits=2, train=20, test=10)
    assert 0 <= report.quantum_accuracy <= 1 and 0 <= report.rbf_accuracy <= 1
    assert "RBF" in report.markdown() and report.quantum_s > 0


def test_bad_input():
    with pytest.raises(InvalidShape, match="features"):
        quantum_kernel(np.zeros((2, 13)))
    with pytest.raises(InvalidShape, match="2-D"):
        quantum_kernel(np.zeros(3))
    with pytest.raises(InvalidArgument, match="finite"):
        quantum_kernel(np.array([[np.nan, 1.0]]))
    with pytest.raises(InvalidArgument, match="layers"):
        quantum_kernel(np.zeros((2, 2)), layers=0)
    with pytest.raises(InvalidArgument, match="fit"):
        QuantumKernelSVM().predict(np.zeros((1, 2)))
    with pytest.raises(InvalidShape, match="one label"):
        QuantumKernelSVM().fit(np.zeros((3, 2)), [0, 1])
    with pytest.raises(InvalidArgument, match="n_qubits"):
        compare_kernels(n_qubits=13)


def test_missing_extra_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pennylane", None)
    with pytest.raises(ImportError, match=r"pip install 'qattention\[quantum\]'"):
        quantum_kernel(np.zeros((2, 2)))
