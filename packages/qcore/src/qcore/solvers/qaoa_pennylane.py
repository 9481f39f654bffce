"""QAOA circuits on PennyLane (``lightning.qubit`` when installed, else ``default.qubit``).

A classical statevector SIMULATION of the gate-model circuit: Hadamards (or the warm-start
RY rotations), then per layer ``exp(-i gamma H)`` as ``RZ``/``IsingZZ`` gates and the mixer
(``RX(2 beta)``, or ``RY(theta) RZ(-2 beta) RY(-theta)`` when warm-started).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qcore.errors import SolverUnavailable
from qcore.solvers.qaoa_circuit import QAOACircuit

EXTRA = "pennylane"


def _import_pennylane() -> Any:
    try:
        import pennylane as qml
    except ImportError as exc:
        raise SolverUnavailable(
            f"the PennyLane backend needs PennyLane ({exc}); install it with "
            f'pip install "qcore[{EXTRA}]"',
            extra=EXTRA,
        ) from exc
    return qml


def default_device_name() -> str:
    """``lightning.qubit`` when pennylane-lightning is installed, else ``default.qubit``."""
    try:
        import pennylane_lightning  # noqa: F401
    except ImportError:
        return "default.qubit"
    return "lightning.qubit"


class PennyLaneBackend:
    """Probabilities, exact expectations and seeded shots of a ``QAOACircuit`` on PennyLane."""

    def __init__(self, circuit: QAOACircuit, *, device: str | None = None) -> None:
        self.qml = _import_pennylane()
        self.circuit = circuit
        self.device_name = device or default_device_name()
        self.name = f"pennylane/{self.device_name}"
        n = circuit.hamiltonian.num_qubits
        try:
            self._device = self.qml.device(self.device_name, wires=n)
        except Exception as exc:  # PennyLane raises DeviceError (or ImportError for plugins)
            raise SolverUnavailable(
                f"PennyLane device {self.device_name!r} could not be created ({exc}); "
                f'use device="default.qubit" or install it (pip install "qcore[{EXTRA}]").',
                extra=EXTRA,
            ) from exc
        self._probs = self.qml.QNode(self._probs_circuit, self._device)
        self._diagonal: np.ndarray | None = None

    # -- the circuit --------------------------------------------------------------------
    def _apply(self, gammas: np.ndarray, betas: np.ndarray) -> None:
        qml = self.qml
        ham = self.circuit.hamiltonian
        n = ham.num_qubits
        thetas = self.circuit.warm_thetas
        terms = ham.pauli_terms()
        for w in range(n):
            if thetas is None:
                qml.Hadamard(wires=w)
            else:
                qml.RY(thetas[w], wires=w)
        for gamma, beta in zip(gammas, betas, strict=True):
            for pauli, qubits, c in terms:
                if pauli == "Z":
                    qml.RZ(2.0 * gamma * c, wires=qubits[0])
                else:
                    qml.IsingZZ(2.0 * gamma * c, wires=list(qubits))
            for w in range(n):
                if thetas is None:
                    qml.RX(2.0 * beta, wires=w)
                else:
                    qml.RY(-thetas[w], wires=w)
                    qml.RZ(-2.0 * beta, wires=w)
                    qml.RY(thetas[w], wires=w)

    def _probs_circuit(self, gammas: np.ndarray, betas: np.ndarray) -> Any:
        self._apply(gammas, betas)
        return self.qml.probs(wires=range(self.circuit.hamiltonian.num_qubits))

    def _sample_circuit(self, gammas: np.ndarray, betas: np.ndarray) -> Any:
        self._apply(gammas, betas)
        return self.qml.sample(wires=range(self.circuit.hamiltonian.num_qubits))

    # -- what the solver uses ------------------------------------------------------------
    def probabilities(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Basis-state probabilities, little-endian (bit i of the index = qubit i)."""
        n = self.circuit.hamiltonian.num_qubits
        probs = np.asarray(self._probs(np.asarray(gammas), np.asarray(betas)), dtype=np.float64)
        # PennyLane orders wire 0 as the most significant bit; reverse to little-endian.
        return probs.reshape([2] * n).transpose(list(range(n))[::-1]).ravel()

    def expectation(self, gammas: np.ndarray, betas: np.ndarray) -> float:
        """``<psi|H|psi>``, exact: ``H`` is diagonal, so it is ``sum_b p(b) E(b)``."""
        if self._diagonal is None:
            self._diagonal = self.circuit.hamiltonian.diagonal()
        return float(self.probabilities(gammas, betas) @ self._diagonal)

    def sample(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``shots`` measurements: unique bit rows ``[u, n]`` (qubit order) and their counts."""
        n = self.circuit.hamiltonian.num_qubits
        device = self.qml.device(self.device_name, wires=n, seed=seed)
        qnode = self.qml.set_shots(self.qml.QNode(self._sample_circuit, device), shots=shots)
        bits = np.asarray(qnode(np.asarray(gammas), np.asarray(betas)), dtype=np.int8)
        bits = bits.reshape(shots, n)
        rows, counts = np.unique(bits, axis=0, return_counts=True)
        return rows, counts
