"""QAOA circuits in Qiskit (``qaoa_ansatz``) simulated on Qiskit Aer (EstimatorV2 / SamplerV2).

A classical statevector SIMULATION of the gate-model circuit. ``qiskit_circuit`` builds the
parameterised circuit (``qaoa_ansatz`` for standard QAOA; for warm starts the same cost
evolution with the RY-initial state and the ``RY(theta) RZ(-2 beta) RY(-theta)`` mixer); it
needs only ``qiskit`` and is shared with the Azure Quantum solver. ``AerBackend`` needs
``qiskit-aer`` (``qcore[aer]``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from qcore.errors import SolverUnavailable
from qcore.solvers.qaoa_circuit import QAOACircuit

EXTRA = "aer"

_PARAM = re.compile(r"^(γ|β)\[(\d+)\]$")


def _import_qiskit(extra: str = EXTRA) -> Any:
    try:
        import qiskit
    except ImportError as exc:
        raise SolverUnavailable(
            f'this backend needs Qiskit ({exc}); install it with pip install "qcore[{extra}]"',
            extra=extra,
        ) from exc
    return qiskit


def qiskit_circuit(circuit: QAOACircuit, *, measure: bool = False) -> Any:
    """The parameterised QAOA circuit (parameters ``γ[k]``, ``β[k]``), not yet transpiled."""
    _import_qiskit()
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector
    from qiskit.circuit.library import PauliEvolutionGate, qaoa_ansatz

    ham = circuit.hamiltonian
    n = ham.num_qubits
    cost = ham.to_sparse_pauli_op()
    thetas = circuit.warm_thetas
    if thetas is None:
        qc = qaoa_ansatz(cost, reps=circuit.p, flatten=True)
    else:
        gammas = ParameterVector("γ", circuit.p)
        betas = ParameterVector("β", circuit.p)
        qc = QuantumCircuit(n, name="WS-QAOA")
        for q in range(n):
            qc.ry(float(thetas[q]), q)
        for k in range(circuit.p):
            qc.append(PauliEvolutionGate(cost, time=gammas[k]), range(n))
            for q in range(n):
                qc.ry(-float(thetas[q]), q)
                qc.rz(-2.0 * betas[k], q)
                qc.ry(float(thetas[q]), q)
    if measure:
        qc.measure_all()
    return qc


def parameter_values(qc: Any, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Values for ``qc.parameters`` (in that order) from the angle arrays."""
    values = []
    for param in qc.parameters:
        match = _PARAM.match(param.name)
        if match is None:
            raise ValueError(f"unexpected circuit parameter {param.name!r}")
        source = gammas if match.group(1) == "γ" else betas
        values.append(float(source[int(match.group(2))]))
    return np.asarray(values, dtype=np.float64)


def bind(qc: Any, gammas: np.ndarray, betas: np.ndarray) -> Any:
    """``qc`` with the angles bound."""
    return qc.assign_parameters(parameter_values(qc, gammas, betas))


def counts_to_rows(counts: dict[str, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Qiskit counts (``'q_{n-1}...q_0'`` keys, optional spaces or hex) -> bit rows, counts."""
    rows, freq = [], []
    for key, count in counts.items():
        text = str(key).replace(" ", "")
        if text.startswith("0x"):
            text = format(int(text, 16), f"0{n}b")
        text = text.zfill(n)[-n:]
        rows.append([int(c) for c in reversed(text)])
        freq.append(int(count))
    return np.asarray(rows, dtype=np.int8).reshape(-1, n), np.asarray(freq, dtype=np.int64)


class AerBackend:
    """Probabilities, exact expectations (EstimatorV2) and seeded shots (SamplerV2) on Aer."""

    def __init__(self, circuit: QAOACircuit, *, method: str = "statevector") -> None:
        _import_qiskit()
        try:
            from qiskit_aer import AerSimulator
            from qiskit_aer.primitives import EstimatorV2, SamplerV2
        except ImportError as exc:
            raise SolverUnavailable(
                f"the Aer backend needs qiskit-aer ({exc}); install it with "
                f'pip install "qcore[{EXTRA}]"',
                extra=EXTRA,
            ) from exc
        from qiskit import transpile

        self.name = f"aer/{method}"
        self.circuit = circuit
        self._method = method
        self._simulator = AerSimulator(method=method)
        self._sampler_cls = SamplerV2
        self._qc = transpile(qiskit_circuit(circuit), self._simulator, optimization_level=0)
        self._qc_meas = transpile(
            qiskit_circuit(circuit, measure=True), self._simulator, optimization_level=0
        )
        self._observable = circuit.hamiltonian.to_sparse_pauli_op()
        if self._qc.layout is not None:
            self._observable = self._observable.apply_layout(self._qc.layout)
        self._estimator = EstimatorV2(
            options={"backend_options": {"method": method}, "default_precision": 0.0}
        )

    def expectations(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Exact ``<H>`` for a batch: ``gammas``, ``betas`` of shape ``[k, p]``."""
        values = np.stack(
            [parameter_values(self._qc, g, b) for g, b in zip(gammas, betas, strict=True)]
        )
        if values.shape[1] == 0:
            values = values.reshape(-1, 0)
        pub = (self._qc, self._observable, values)
        result = self._estimator.run([pub], precision=0.0).result()
        evs = np.asarray(result[0].data.evs, dtype=np.float64).reshape(-1)
        return evs + self.circuit.hamiltonian.offset

    def expectation(self, gammas: np.ndarray, betas: np.ndarray) -> float:
        return float(self.expectations(np.atleast_2d(gammas), np.atleast_2d(betas))[0])

    def probabilities(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Basis-state probabilities, little-endian (bit i of the index = qubit i)."""
        qc = bind(self._qc, gammas, betas)
        qc.save_probabilities(label="probs")
        data = self._simulator.run(qc).result().data(0)
        return np.asarray(data["probs"], dtype=np.float64)

    def sample(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``shots`` measurements: unique bit rows ``[u, n]`` (qubit order) and their counts."""
        sampler = self._sampler_cls(
            default_shots=shots, seed=seed, options={"backend_options": {"method": self._method}}
        )
        values = parameter_values(self._qc_meas, gammas, betas)
        result = sampler.run([(self._qc_meas, values)]).result()
        counts = result[0].data.meas.get_counts()
        return counts_to_rows(counts, self.circuit.hamiltonian.num_qubits)


class QiskitStatevectorBackend:
    """The same circuit on Qiskit's reference ``Statevector`` (needs only ``qiskit``).

    Used for local angle optimisation by the Azure solver when Aer is not installed; shots are
    drawn from the exact distribution with a seeded numpy generator.
    """

    def __init__(self, circuit: QAOACircuit, *, extra: str = EXTRA) -> None:
        _import_qiskit(extra)
        from qiskit import transpile

        self.name = "qiskit/statevector"
        self.circuit = circuit
        self._qc = transpile(
            qiskit_circuit(circuit),
            basis_gates=["rz", "ry", "rx", "h", "rzz", "cx"],
            optimization_level=0,
        )
        self._diagonal = circuit.hamiltonian.diagonal()

    def probabilities(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
        from qiskit.quantum_info import Statevector

        state = Statevector.from_instruction(bind(self._qc, gammas, betas))
        return np.asarray(state.probabilities(), dtype=np.float64)

    def expectation(self, gammas: np.ndarray, betas: np.ndarray) -> float:
        return float(self.probabilities(gammas, betas) @ self._diagonal)

    def sample(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        probs = self.probabilities(gammas, betas)
        n = self.circuit.hamiltonian.num_qubits
        draws = np.random.default_rng(seed).choice(probs.size, size=shots, p=probs / probs.sum())
        index, counts = np.unique(draws, return_counts=True)
        rows = ((index[:, None] >> np.arange(n)[None, :]) & 1).astype(np.int8)
        return rows, counts.astype(np.int64)
