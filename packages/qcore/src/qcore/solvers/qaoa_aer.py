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


# -- noisy simulation of a device -------------------------------------------------------
_NOT_GATES = frozenset(
    {
        "delay",
        "measure",
        "reset",
        "barrier",
        "id",
        "if_else",
        "for_loop",
        "while_loop",
        "switch_case",
        "box",
        "measure_2",
        "reset_2",
        "store",
    }
)
# largest register simulated as a density matrix (4^n entries: 10 qubits = 16 MiB); above it
# one statevector trajectory per shot
DENSITY_MATRIX_MAX_QUBITS = 10


class NoisyAerBackend:
    """The QAOA circuit transpiled to a device and simulated with its noise on Aer.

    Construction transpiles the measured, parameterised circuit once per depth: to the
    device's basis gates and to a connected set of ``n`` physical qubits with low errors
    (``noise_models.choose_qubits``; routing stays inside it, so Aer simulates exactly ``n``
    qubits), then folds its two-qubit gates for each ZNE scale factor. ``estimate`` runs the
    circuits (one per scale factor) and returns the raw and mitigated expectations.
    """

    def __init__(
        self,
        circuit: QAOACircuit,
        device: Any,
        *,
        mitigation: str = "none",
        scale_factors: tuple[float, ...] = (1.0, 3.0, 5.0),
        extrapolation: str = "richardson",
        readout_shots: int = 4096,
        optimization_level: int = 3,
        seed: int = 0,
    ) -> None:
        _import_qiskit()
        try:
            from qiskit_aer import AerSimulator
        except ImportError as exc:
            raise SolverUnavailable(
                f"noisy simulation needs qiskit-aer ({exc}); install it with "
                f'pip install "qcore[{EXTRA}]"',
                extra=EXTRA,
            ) from exc
        from qiskit import transpile
        from qiskit.transpiler import CouplingMap

        from qcore.solvers.mitigation import (
            count_two_qubit_gates,
            fold_two_qubit_gates,
            mitigation_parts,
        )
        from qcore.solvers.noise_models import choose_qubits, restrict_noise_model

        ham = circuit.hamiltonian
        n = ham.num_qubits
        self.circuit = circuit
        self.device = device
        self.mitigation = mitigation
        self.readout, self.zne = mitigation_parts(mitigation)
        self.scale_factors = tuple(scale_factors) if self.zne else (1.0,)
        self.extrapolation = extrapolation
        self.readout_shots = readout_shots
        self._rng = np.random.default_rng(seed)
        basis = [g for g in device.basis_gates if g not in _NOT_GATES]
        logical = qiskit_circuit(circuit, measure=True)
        if device.backend is not None:
            physical, pairs = choose_qubits(device.backend, n)
            index = {q: i for i, q in enumerate(physical)}
            reduced = CouplingMap([(index[a], index[b]) for a, b in pairs]) if pairs else None
        else:
            physical, reduced = list(range(n)), None
        local = transpile(
            logical,
            basis_gates=basis,
            coupling_map=reduced,
            optimization_level=optimization_level,
            seed_transpiler=seed,
        )
        if local.num_qubits > n:  # pragma: no cover - the reduced map has exactly n qubits
            raise RuntimeError("transpilation added qubits beyond the chosen ones")
        allowed = None if reduced is None else {tuple(e) for e in reduced.get_edges()}
        for ins in local.data:
            if allowed is not None and ins.operation.num_qubits == 2:
                pair = tuple(local.find_bit(q).index for q in ins.qubits)
                if ins.operation.name != "barrier" and pair not in allowed:  # pragma: no cover
                    raise RuntimeError(f"two-qubit gate on {pair}, not a native pair")
        # virtual qubit i ends on local qubit final[i], i.e. device qubit physical[final[i]]
        final = local.layout.final_index_layout() if local.layout is not None else list(range(n))
        self.physical_qubits = [int(physical[final[i]]) for i in range(n)]
        self._measured = [int(final[i]) for i in range(n)]  # local qubit read into clbit i
        self._circuits = {1.0: local}
        for scale in self.scale_factors:
            if scale != 1.0:
                self._circuits[scale] = fold_two_qubit_gates(local, scale, self._rng)
        self.transpiled = {
            "depth": int(local.depth()),
            "two_qubit_gates": count_two_qubit_gates(local),
            "ops": {str(k): int(v) for k, v in local.count_ops().items()},
            "physical_qubits": self.physical_qubits,
            "optimization_level": optimization_level,
            "folded_two_qubit_gates": {
                f"{s:g}": count_two_qubit_gates(qc) for s, qc in self._circuits.items()
            },
        }
        method = "density_matrix" if n <= DENSITY_MATRIX_MAX_QUBITS else "statevector"
        self.method = method
        self.name = f"aer/{method}+noise({device.name})"
        model = device.noise_model
        if device.backend is not None:
            model = restrict_noise_model(model, physical)
        self._simulator = AerSimulator(method=method, noise_model=model)
        self._calibration: Any = None
        self.shots_used = 0
        self.mitigation_shots = 0

    # -- running ------------------------------------------------------------------------
    def _run(
        self, circuits: list[Any], shots: int, seed: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        result = self._simulator.run(circuits, shots=shots, seed_simulator=seed).result()
        n = self.circuit.hamiltonian.num_qubits
        return [counts_to_rows(result.get_counts(i), n) for i in range(len(circuits))]

    def _bound(self, scale: float, gammas: np.ndarray, betas: np.ndarray) -> Any:
        qc = self._circuits[scale]
        return qc.assign_parameters(parameter_values(qc, gammas, betas)) if qc.parameters else qc

    @property
    def readout_calibration(self) -> Any:
        """The calibration measured so far (None before the first readout-mitigated run)."""
        return self._calibration

    def calibration(self, seed: int) -> Any:
        """The readout calibration (measured once per backend, on the QAOA's qubits)."""
        if self._calibration is None:
            from qiskit import QuantumCircuit

            from qcore.solvers.mitigation import ReadoutCalibration

            n = self.circuit.hamiltonian.num_qubits
            circuits = []
            for flip in (False, True):
                qc = QuantumCircuit(n, n, name=f"readout_cal_{int(flip)}")
                for i, q in enumerate(self._measured):
                    if flip:
                        qc.x(q)
                    qc.measure(q, i)
                circuits.append(qc)
            per_circuit = max(self.readout_shots // 2, 1)
            zeros, ones = self._run(circuits, per_circuit, seed)
            self._calibration = ReadoutCalibration.from_counts(zeros, ones)
            self.mitigation_shots += 2 * per_circuit
            self.shots_used += 2 * per_circuit
        return self._calibration

    def estimate(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int, seed: int
    ) -> dict[str, Any]:
        """Raw (scale 1, no correction) and mitigated ``<H>`` from ``shots`` per circuit, and
        the scale-1 samples."""
        from qcore.solvers.mitigation import extrapolate, hamiltonian_expectation

        ham = self.circuit.hamiltonian
        runs = self._run([self._bound(s, gammas, betas) for s in self.scale_factors], shots, seed)
        self.shots_used += shots * len(runs)
        self.mitigation_shots += shots * (len(runs) - 1)
        raw = [hamiltonian_expectation(ham, r, c) for r, c in runs]
        by = {"none": raw[0]}
        corrected = None
        if self.readout:
            cal = self.calibration(seed + 1)
            corrected = [cal.expectation(ham, r, c) for r, c in runs]
            by["readout"] = corrected[0]
        if self.zne:
            by["zne"] = extrapolate(self.scale_factors, raw, self.extrapolation)
            if corrected is not None:
                by["readout+zne"] = extrapolate(self.scale_factors, corrected, self.extrapolation)
        return {
            "unmitigated": float(raw[0]),
            "mitigated": float(by[self.mitigation]),
            "by_mitigation": {k: float(v) for k, v in by.items()},
            "per_scale": [float(v) for v in raw],
            "per_scale_readout_corrected": None
            if corrected is None
            else [float(v) for v in corrected],
            "samples": runs[0],
        }

    def expectation(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int = 1024, seed: int = 0
    ) -> float:
        """The mitigated estimate (what the optimiser sees)."""
        return self.estimate(gammas, betas, shots, seed)["mitigated"]

    def probabilities(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
        raise NotImplementedError("a noisy device gives counts, not probabilities")

    def sample(
        self, gammas: np.ndarray, betas: np.ndarray, shots: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``shots`` noisy measurements of the unfolded circuit."""
        (run,) = self._run([self._bound(1.0, gammas, betas)], shots, seed)
        self.shots_used += shots
        return run
