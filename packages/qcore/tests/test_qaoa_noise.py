"""QAOA under device noise: noise models, transpilation, readout mitigation, ZNE, bad input."""

from __future__ import annotations

import builtins
import itertools

import dimod
import networkx as nx
import numpy as np
import pytest

import qcore
from qcore.errors import (
    DeviceTooSmall,
    InvalidProblem,
    MitigationUnsupported,
    SolverUnavailable,
    UnknownDevice,
)
from qcore.solvers import noise_models
from qcore.solvers.hamiltonian import cost_hamiltonian
from qcore.solvers.mitigation import (
    ReadoutCalibration,
    check_scale_factors,
    extrapolate,
    fold_two_qubit_gates,
    hamiltonian_expectation,
    richardson_weights,
)
from qcore.solvers.qaoa import QAOASolver, approximation_ratio
from qcore.testing import assert_sampleset_matches, random_bqm

pytest.importorskip("qiskit_aer")

TOL = 1e-9
SMALL_DEVICE = "fake_manila"  # 5 qubits: loads in well under a second


def maxcut_bqm(graph: nx.Graph, seed: int = 0) -> dimod.BinaryQuadraticModel:
    rng = np.random.default_rng(seed)
    bqm = dimod.BinaryQuadraticModel("SPIN")
    for u, v in graph.edges:
        w = float(rng.uniform(0.5, 1.5))
        bqm.add_interaction(u, v, w / 2)
        bqm.offset -= w / 2
    return bqm


def readout_only_model(p10: float, p01: float):
    from qiskit_aer.noise import NoiseModel, ReadoutError

    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    model.add_all_qubit_readout_error(ReadoutError([[1 - p10, p10], [p01, 1 - p01]]))
    return model


def depolarising_model(p1: float, p2: float, readout: float = 0.0):
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    model.add_all_qubit_quantum_error(depolarizing_error(p1, 1), ["sx", "x"])
    model.add_all_qubit_quantum_error(depolarizing_error(p2, 2), ["cx"])
    if readout:
        model.add_all_qubit_readout_error(
            ReadoutError([[1 - readout, readout], [readout, 1 - readout]])
        )
    return model


# -- the mitigation arithmetic ----------------------------------------------------------------
def test_counts_expectation_is_the_model_energy_average() -> None:
    bqm = random_bqm(4, "SPIN", seed=2)
    ham = cost_hamiltonian(bqm)
    rows = np.array(list(itertools.product([0, 1], repeat=4)), dtype=np.int8)
    counts = np.random.default_rng(0).integers(1, 20, size=len(rows))
    expected = float(ham.energies(rows) @ counts / counts.sum())
    assert hamiltonian_expectation(ham, rows, counts) == pytest.approx(expected, abs=TOL)


def test_readout_correction_matches_full_matrix_inversion() -> None:
    """Term-by-term correction = inverting the tensored 2^n assignment matrix (3 qubits)."""
    rng = np.random.default_rng(5)
    bqm = random_bqm(3, "SPIN", seed=7, density=1.0)
    ham = cost_hamiltonian(bqm)
    p10, p01 = rng.uniform(0.01, 0.1, 3), rng.uniform(0.02, 0.15, 3)
    cal = ReadoutCalibration(p10, p01, shots=0)
    rows = np.array([[(k >> i) & 1 for i in range(3)] for k in range(8)], dtype=np.int8)
    counts = rng.integers(5, 50, size=8)
    full = np.array([[1.0]])
    for i in reversed(range(3)):  # little-endian: qubit 0 is the lowest bit of the index
        a = np.array([[1 - p10[i], p01[i]], [p10[i], 1 - p01[i]]])
        full = np.kron(full, a)
    quasi = np.linalg.solve(full, counts / counts.sum())
    assert cal.expectation(ham, rows, counts) == pytest.approx(
        float(quasi @ ham.diagonal()), abs=1e-9
    )


def test_readout_calibration_from_counts_and_singular_refused() -> None:
    zeros = (np.array([[0, 0], [1, 0]]), np.array([90, 10]))
    ones = (np.array([[1, 1], [1, 0]]), np.array([80, 20]))
    cal = ReadoutCalibration.from_counts(zeros, ones)
    assert cal.p1_given_0 == pytest.approx([0.1, 0.0])
    assert cal.p0_given_1 == pytest.approx([0.0, 0.2])
    assert cal.shots == 200
    with pytest.raises(InvalidProblem, match="mitigation: readout calibration"):
        ReadoutCalibration.from_counts(
            (np.array([[1]]), np.array([10])), (np.array([[0]]), np.array([10]))
        )


def test_extrapolations_are_exact_on_their_own_models() -> None:
    xs = (1.0, 2.0, 3.0)
    quad = [2.0 - 0.5 * x + 0.1 * x * x for x in xs]
    assert extrapolate(xs, quad, "richardson") == pytest.approx(2.0, abs=TOL)
    line = [1.5 - 0.25 * x for x in (1.0, 3.0, 5.0)]
    assert extrapolate((1.0, 3.0, 5.0), line, "linear") == pytest.approx(1.5, abs=TOL)
    assert richardson_weights(xs) == pytest.approx([3.0, -3.0, 1.0])
    with pytest.raises(InvalidProblem, match="zne_extrapolation"):
        extrapolate(xs, quad, "cubic")


@pytest.mark.parametrize(
    "bad", [(1.0,), (2.0, 3.0), (1.0, 1.0), (1.0, 0.5), "123", (1.0, float("nan")), (1, True)]
)
def test_scale_factors_checked(bad: object) -> None:
    with pytest.raises(InvalidProblem, match="zne_scale_factors"):
        check_scale_factors(bad)


def test_folding_keeps_the_unitary_and_scales_two_qubit_gates() -> None:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Operator

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.rz(0.3, 1)
    qc.cx(1, 2)
    qc.ecr(2, 0)
    qc.cz(0, 2)
    rng = np.random.default_rng(0)
    for scale, expected in ((1.0, 4), (3.0, 12), (2.0, 8), (5.0, 20)):
        folded = fold_two_qubit_gates(qc, scale, rng)
        two = sum(
            1 for ins in folded.data if ins.operation.num_qubits == 2 and ins.name != "barrier"
        )
        assert two == expected
        assert Operator(folded).equiv(Operator(qc))


def test_approximation_ratio_is_cut_over_max_cut() -> None:
    bqm = maxcut_bqm(nx.cycle_graph(4))
    ham = cost_hamiltonian(bqm)
    best = float(ham.diagonal().min())
    assert approximation_ratio(ham, best) == pytest.approx(1.0)
    assert approximation_ratio(ham, 0.0) == pytest.approx(0.0)  # nothing cut
    assert approximation_ratio(ham, best / 2) == pytest.approx(0.5)


# -- noisy solves -----------------------------------------------------------------------------
def test_readout_mitigation_recovers_the_noiseless_expectation() -> None:
    """With readout errors only, the corrected estimate is unbiased; the raw one is not."""
    bqm = maxcut_bqm(nx.cycle_graph(4), seed=1)
    ss = QAOASolver().sample(
        bqm,
        backend="aer",
        noise=readout_only_model(0.08, 0.12),
        mitigation="readout",
        optimize_on="noiseless",
        shots=20000,
        readout_shots=40000,
        seed=3,
    )
    info = ss.info
    ideal = info["expectation_noiseless"]
    raw_error = abs(info["expectation_unmitigated"] - ideal)
    mitigated_error = abs(info["expectation_mitigated"] - ideal)
    assert raw_error > 0.1
    assert mitigated_error < 0.05
    assert info["mitigation_shots"] == 40000 and info["mitigation_shots_final"] == 40000
    assert info["expectation"] == info["expectation_mitigated"]
    assert_sampleset_matches(ss, bqm)


def test_zne_shrinks_the_depolarising_bias() -> None:
    bqm = maxcut_bqm(nx.cycle_graph(4), seed=2)
    ss = QAOASolver().sample(
        bqm,
        backend="aer",
        noise=depolarising_model(0.001, 0.02),
        mitigation="zne",
        optimize_on="noiseless",
        shots=20000,
        seed=4,
    )
    info = ss.info
    ideal = info["expectation_noiseless"]
    raw_error = abs(info["expectation_unmitigated"] - ideal)
    zne_error = abs(info["expectation_mitigated"] - ideal)
    assert zne_error < raw_error / 2
    assert info["zne"]["scale_factors"] == [1.0, 3.0, 5.0]
    assert info["noise"]["transpiled"]["folded_two_qubit_gates"]["3"] == pytest.approx(
        3 * info["noise"]["transpiled"]["two_qubit_gates"], abs=1
    )
    assert info["mitigation_shots"] == 2 * 20000


def test_named_device_transpiles_to_its_gates_and_qubits() -> None:
    bqm = maxcut_bqm(nx.cycle_graph(4), seed=3)
    ss = QAOASolver().sample(
        bqm,
        backend="aer",
        noise=SMALL_DEVICE,
        mitigation="readout+zne",
        p=1,
        maxiter=4,
        shots=256,
        optimizer_shots=128,
        readout_shots=512,
        seed=5,
    )
    info = ss.info
    noise = info["noise"]
    assert noise["device"] == SMALL_DEVICE and "snapshot" in noise["source"]
    assert info["simulated"] is True and "no quantum hardware" in info["note"]
    used = set(noise["transpiled"]["ops"]) - {"measure", "barrier"}
    assert used <= set(noise["basis_gates"])
    assert noise["transpiled"]["two_qubit_gates"] >= 4  # 4 edges, 2 CX each at least
    assert len(set(noise["transpiled"]["physical_qubits"])) == 4
    assert set(info["expectation_by_mitigation"]) == {"none", "readout", "zne", "readout+zne"}
    assert info["shots_total"] > info["shots_final"] > 0
    assert 0.0 <= info["approximation_ratio"] <= 1.0
    assert_sampleset_matches(ss, bqm)


def test_auto_picks_a_device_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(noise_models, "AUTO_DEVICES", ("fake_athens", SMALL_DEVICE))
    assert noise_models.resolve_noise("auto", 4).name == "fake_athens"
    with pytest.raises(DeviceTooSmall, match="noise: 'auto'"):
        noise_models.resolve_noise("auto", 6)


def test_seeded_noisy_runs_reproduce() -> None:
    bqm = maxcut_bqm(nx.cycle_graph(3), seed=4)
    kwargs = {
        "backend": "aer",
        "noise": depolarising_model(0.002, 0.02, 0.03),
        "mitigation": "readout+zne",
        "maxiter": 4,
        "shots": 128,
        "optimizer_shots": 64,
        "readout_shots": 128,
        "seed": 9,
    }
    a, b = QAOASolver().sample(bqm, **kwargs), QAOASolver().sample(bqm, **kwargs)
    assert a.info["expectation_by_mitigation"] == b.info["expectation_by_mitigation"]
    assert a.info["gammas"] == b.info["gammas"]


# -- bad input --------------------------------------------------------------------------------
def test_unknown_device_lists_the_available_ones() -> None:
    bqm = random_bqm(3, "SPIN", seed=1)
    with pytest.raises(UnknownDevice, match=r"noise: 'fake_nowhere'.*fake_sherbrooke") as info:
        QAOASolver().sample(bqm, backend="aer", noise="fake_nowhere")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, InvalidProblem)


def test_device_names_accept_ibm_prefix_and_any_case() -> None:
    assert noise_models.resolve_noise("IBM_Manila", 3).name == SMALL_DEVICE
    assert noise_models.resolve_noise("manila", 3).name == SMALL_DEVICE
    assert len(noise_models.available_devices()) > 20


def test_device_with_too_few_qubits_refused() -> None:
    bqm = random_bqm(6, "SPIN", seed=1)
    with pytest.raises(DeviceTooSmall, match=r"noise: fake_manila has 5 qubits.*needs 6"):
        QAOASolver().sample(bqm, backend="aer", noise=SMALL_DEVICE)


def test_noise_model_with_too_few_qubits_refused() -> None:
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    model = NoiseModel(basis_gates=["rz", "sx", "cx"])
    for q in range(3):
        model.add_quantum_error(depolarizing_error(0.01, 1), ["sx"], [q])
    bqm = random_bqm(4, "SPIN", seed=1)
    with pytest.raises(DeviceTooSmall, match=r"noise: the NoiseModel has errors on qubits 0..2"):
        QAOASolver().sample(bqm, backend="aer", noise=model)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mitigation": "zne"}, "mitigation: 'zne' needs a noisy device"),
        ({"mitigation": "readout", "backend": "aer"}, "mitigation: 'readout' needs a noisy"),
        ({"noise": "auto", "backend": "pennylane"}, "noise: backend 'pennylane'"),
        ({"noise": "auto", "backend": "qiskit"}, "noise: backend 'qiskit'"),
    ],
)
def test_mitigation_on_a_backend_that_cannot(kwargs: dict, match: str) -> None:
    with pytest.raises(MitigationUnsupported, match=match):
        QAOASolver().sample(random_bqm(3, "SPIN", seed=1), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mitigation": "richardson"}, "mitigation"),
        ({"noise": 3}, "noise: int"),
        ({"noise": "auto", "optimize_on": "device"}, "optimize_on"),
        ({"noise": "auto", "zne_extrapolation": "poly"}, "zne_extrapolation"),
        ({"noise": "auto", "zne_scale_factors": (3, 5)}, "zne_scale_factors"),
        ({"noise": "auto", "readout_shots": 0}, "readout_shots"),
        ({"noise": "auto", "optimization_level": 4}, "optimization_level"),
        ({"noise": "auto", "optimization_level": True}, "optimization_level"),
    ],
)
def test_bad_noise_arguments_name_the_parameter(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidProblem, match=match):
        QAOASolver().sample(random_bqm(3, "SPIN", seed=1), **kwargs)


def test_missing_noise_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "qiskit_ibm_runtime":
            raise ImportError(f"No module named {name!r} (simulated)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    noise_models._device_classes.cache_clear()
    try:
        with pytest.raises(SolverUnavailable, match=r"qcore\[noise\]") as info:
            QAOASolver().sample(random_bqm(3, "SPIN", seed=1), backend="aer", noise="auto")
        assert info.value.extra == "noise"
    finally:
        noise_models._device_classes.cache_clear()


def test_solve_with_noise_by_name() -> None:
    bqm = maxcut_bqm(nx.cycle_graph(4), seed=6)
    result = qcore.solve(
        bqm,
        solver="qaoa",
        backend="aer",
        noise=depolarising_model(0.001, 0.01, 0.02),
        mitigation="readout",
        maxiter=4,
        shots=256,
        optimizer_shots=128,
        seed=1,
    )
    assert result.solver == "qaoa"
    assert result.sampleset.info["noise"]["device"] == "NoiseModel"


def test_chosen_qubits_are_connected_and_the_restricted_model_keeps_their_noise() -> None:
    """The simulation holds only the chosen qubits: same counts as the device-wide model."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.transpiler import CouplingMap
    from qiskit_aer import AerSimulator

    device = noise_models.resolve_noise(SMALL_DEVICE, 3)
    qubits, pairs = noise_models.choose_qubits(device.backend, 3)
    assert len(qubits) == 3
    assert nx.is_connected(nx.Graph(pairs)) and set(nx.Graph(pairs)) == set(qubits)
    index = {q: i for i, q in enumerate(qubits)}
    local = QuantumCircuit(3, 3)
    local.h(0)
    local.cx(0, 1)
    local.cx(1, 2)
    local.rz(0.4, 2)
    local.measure(range(3), range(3))
    local = transpile(
        local,
        basis_gates=["rz", "sx", "x", "cx"],
        coupling_map=CouplingMap([(index[a], index[b]) for a, b in pairs]),
        optimization_level=0,
        seed_transpiler=0,
    )
    wide = QuantumCircuit(device.backend.num_qubits, 3)
    wide.compose(local, qubits=qubits, clbits=range(3), inplace=True)
    shots = 20000
    full = AerSimulator(method="density_matrix", noise_model=device.noise_model)
    small = AerSimulator(
        method="density_matrix",
        noise_model=noise_models.restrict_noise_model(device.noise_model, qubits),
    )
    a = full.run(wide, shots=shots, seed_simulator=1).result().get_counts()
    b = small.run(local, shots=shots, seed_simulator=2).result().get_counts()
    tv = 0.5 * sum(abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b)) / shots
    assert tv < 0.03
