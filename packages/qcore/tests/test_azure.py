"""Azure Quantum solver: offline translation, cost gate, retries, errors, fallback; live only
with credentials."""

from __future__ import annotations

import builtins
import json
from typing import Any

import dimod
import numpy as np
import pytest

import qcore
from qcore.errors import InvalidProblem, SolverTimeout, SolverUnavailable
from qcore.registry import get_solver
from qcore.solvers.hamiltonian import cost_hamiltonian
from qcore.testing import SamplerConformance, assert_sampleset_matches, dimod_kit, random_bqm

pytest.importorskip("azure.quantum")
pytest.importorskip("tenacity")

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)

from qcore.solvers import azure as azure_module
from qcore.solvers.azure import (
    AzureQuantumSolver,
    classify_error,
    credentials_reason,
    estimate_cost,
    prepare_circuit,
)

pytestmark = [
    # azure-quantum 3.13 imports the deprecated qsharp package and calls its own deprecated
    # configuration(); both are third-party notices, filtered here only.
    pytest.mark.filterwarnings("ignore:The 'qsharp' package is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        r"ignore:AzureBackendBase.configuration\(\) is deprecated:DeprecationWarning"
    ),
]

FAST = {"qaoa_params": {"maxiter": 10, "init": "fixed"}}


def ionq_backend() -> Any:
    from azure.quantum.qiskit.backends.ionq import IonQSimulatorBackend

    return IonQSimulatorBackend(name="ionq.simulator", provider=None)


class FakeJob:
    def __init__(self, counts: dict[str, int], polls_until_done: int = 1) -> None:
        self.counts = counts
        self.polls = polls_until_done
        self.cancelled = False

    def id(self) -> str:
        return "fake-job-1"

    def status(self) -> str:
        self.polls -= 1
        return "DONE" if self.polls <= 0 else "RUNNING"

    def result(self) -> Any:
        counts = self.counts

        class Result:
            def get_counts(self) -> dict[str, int]:
                return counts

        return Result()

    def cancel(self) -> None:
        self.cancelled = True


class FakeAzureBackend:
    """An offline stand-in for an Azure Quantum Qiskit backend: it translates each circuit
    with azure-quantum's real IonQ translator (the job input that would be uploaded), then
    samples it locally with Qiskit's Statevector (seeded)."""

    def __init__(
        self,
        name: str = "ionq.simulator",
        errors: list[BaseException] | None = None,
        polls_until_done: int = 1,
    ) -> None:
        self.name = name
        self._ionq = ionq_backend()
        self.target = self._ionq.target
        self.errors = list(errors or [])
        self.calls = 0
        self.payloads: list[dict] = []
        self.polls_until_done = polls_until_done
        self.jobs: list[FakeJob] = []

    def run(self, circuit: Any, shots: int) -> FakeJob:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.payloads.append(json.loads(self._ionq._translate_input(circuit)))
        from qiskit.quantum_info import Statevector

        bare = circuit.remove_final_measurements(inplace=False)
        state = Statevector.from_instruction(bare)
        counts = state.sample_counts(shots)  # uses numpy global state: seed it
        job = FakeJob(dict(counts), self.polls_until_done)
        self.jobs.append(job)
        return job


@pytest.fixture(autouse=True)
def _seeded_numpy() -> None:
    np.random.seed(1234)


class TestAzureConformance(SamplerConformance):
    solver_name = "azure"
    solver_kwargs = {**FAST, "shots": 1000}
    max_variables = 8
    time_limit_slack = 1.5

    def sampler(self) -> dimod.Sampler:
        return AzureQuantumSolver(backend=FakeAzureBackend(), sleep=lambda s: None)

    def test_seed_reproduces(self) -> None:  # 12 qubits: the local optimisation is a 2^n sim
        bqm = random_bqm(12, "SPIN", seed=4, density=0.3)
        np.random.seed(7)
        a = self.run(bqm, seed=123)
        np.random.seed(7)
        b = self.run(bqm, seed=123)
        assert a.first.energy == b.first.energy
        assert a.info["gammas"] == b.info["gammas"]


def _offline_azure() -> AzureQuantumSolver:
    with azure_module._quiet_third_party():  # dimod's kit builds these while collecting
        return AzureQuantumSolver(backend=FakeAzureBackend(), sleep=lambda s: None)


# dimod's own kit, with the solver's defaults, against the offline backend
TestDimodKitAzure = dimod_kit(_offline_azure, "azure")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"qaoa_params": {"p": 3}}, "qaoa_params: 'p' cannot be given here; pass p to the azure"),
        ({"qaoa_params": {"seed": 1}}, "qaoa_params: 'seed' cannot be given here"),
        ({"qaoa_params": {"shots": 9}}, "qaoa_params: 'shots' cannot be given here"),
        ({"qaoa_params": {"maxiter": -1}}, "qaoa_params: maxiter: -1"),
        ({"qaoa_params": {"colour": 1}}, "qaoa_params: solver 'qaoa' does not accept"),
        ({"qaoa_params": [1]}, "qaoa_params: [1]; pass a dict"),
        ({"max_cost_usd": True}, "max_cost_usd: True"),
        ({"max_cost_usd": -1}, "max_cost_usd: -1"),
        ({"target": 5}, "target: 5"),
        ({"shots": 0}, "shots: 0"),
        ({"warm_start": "nope"}, "warm_start: 'nope'"),
    ],
)
def test_bad_arguments_named_before_submission(kwargs: dict, match: str) -> None:
    fake = FakeAzureBackend()
    with pytest.raises(InvalidProblem) as info:
        AzureQuantumSolver(backend=fake).sample(random_bqm(4, "SPIN", seed=1), **kwargs)
    assert match in str(info.value)
    assert fake.calls == 0


def test_translation_to_ionq_job_input_offline() -> None:
    bqm = random_bqm(5, "BINARY", seed=3)
    ham = cost_hamiltonian(bqm)
    backend = ionq_backend()
    circuit = prepare_circuit(
        bqm, np.array([0.4, 0.7]), np.array([-0.3, -0.1]), None, backend.target
    )
    payload = json.loads(backend._translate_input(circuit))
    assert payload["qubits"] == 5 and payload["gateset"] == "qis"
    gates = [g["gate"] for g in payload["circuit"]]
    assert gates.count("zz") == 2 * len(ham.edges)  # one ZZ rotation per coupling per layer
    assert gates.count("h") >= 5
    zz = [g for g in payload["circuit"] if g["gate"] == "zz"]
    expected = sorted(abs(2 * g * w) for g in (0.4, 0.7) for w in ham.weights)  # RZZ(2 g w)
    np.testing.assert_allclose(sorted(abs(g["rotation"]) for g in zz), expected, atol=1e-9)
    meta = backend._prepare_job_metadata(circuit)
    assert json.loads(meta["meas_map"]) == list(range(5))


def test_sampleset_decoded_from_counts_and_checked_against_exact() -> None:
    bqm = random_bqm(6, "SPIN", seed=8)
    fake = FakeAzureBackend()
    ss = AzureQuantumSolver(backend=fake).sample(bqm, seed=1, shots=2000, p=2, **FAST)
    assert_sampleset_matches(ss, bqm)
    assert ss.first.energy == pytest.approx(qcore.solve(bqm, solver="exact").energy)
    assert ss.info["target"] == "ionq.simulator" and ss.info["simulated"] is True
    assert ss.info["cost_estimate"]["usd"] == 0.0 and fake.payloads


def test_cost_estimate_and_refusal() -> None:
    bqm = random_bqm(6, "SPIN", seed=9)
    circuit = prepare_circuit(bqm, np.array([0.3]), np.array([-0.3]), None, ionq_backend().target)
    qpu = estimate_cost("ionq.qpu.aria-1", circuit, 1000)
    assert qpu.usd is not None and qpu.usd >= azure_module.IONQ_QPU_MIN_USD
    assert qpu.two_qubit_gates > 0 and qpu.measurements == 6
    assert estimate_cost("quantinuum.qpu.h2-1", circuit, 100).usd is None
    assert estimate_cost("quantinuum.sim.h2-1e", circuit, 100).hqc > 5
    fake = FakeAzureBackend(name="ionq.qpu.aria-1")
    with pytest.raises(SolverUnavailable, match="refused"):
        AzureQuantumSolver(backend=fake).sample(bqm, seed=0, **FAST)
    assert fake.calls == 0  # nothing was submitted
    with pytest.raises(InvalidProblem, match="max_shots"):
        AzureQuantumSolver(backend=fake).sample(bqm, shots=50_000, **FAST)


def test_transient_errors_retried_then_succeed() -> None:
    sleeps: list[float] = []
    fake = FakeAzureBackend(errors=[ServiceRequestError("connection reset"), TimeoutError()])
    solver = AzureQuantumSolver(backend=fake, sleep=sleeps.append)
    ss = solver.sample(random_bqm(4, "SPIN", seed=1), seed=0, **FAST)
    assert fake.calls == 3 and len(ss) > 0
    assert len(sleeps) >= 2 and all(0 <= s <= 8.0 for s in sleeps)  # jittered backoff


def test_transient_errors_exhaust_retries() -> None:
    fake = FakeAzureBackend(errors=[ServiceRequestError("down")] * 10)
    solver = AzureQuantumSolver(backend=fake, sleep=lambda s: None)
    with pytest.raises(SolverUnavailable, match="retries exhausted"):
        solver.sample(random_bqm(4, "SPIN", seed=1), seed=0, retries=3, **FAST)
    assert fake.calls == 3


def test_auth_and_quota_errors_not_retried() -> None:
    quota = HttpResponseError(message="Quota exceeded for this workspace")
    quota.status_code = 403
    for error, word in (
        (ClientAuthenticationError("bad token"), "authentication"),
        (quota, "quota"),
    ):
        fake = FakeAzureBackend(errors=[error])
        with pytest.raises(SolverUnavailable, match=word):
            AzureQuantumSolver(backend=fake, sleep=lambda s: None).sample(
                random_bqm(4, "SPIN", seed=1), seed=0, **FAST
            )
        assert fake.calls == 1


def test_error_classification() -> None:
    throttled = HttpResponseError(message="Too many requests")
    throttled.status_code = 429
    assert classify_error(throttled) == "transient"
    assert classify_error(ServiceRequestError("x")) == "transient"
    assert classify_error(ClientAuthenticationError("x")) == "auth"
    assert classify_error(ValueError("x")) == "other"


def test_slow_job_times_out_and_is_cancelled() -> None:
    fake = FakeAzureBackend(polls_until_done=10**9)
    solver = AzureQuantumSolver(backend=fake, sleep=lambda s: None)
    with pytest.raises(SolverTimeout, match="cancelled"):
        solver.sample(random_bqm(4, "SPIN", seed=1), seed=0, time_limit=0.5, **FAST)
    assert fake.jobs and fake.jobs[0].cancelled


def test_no_credentials_falls_back_and_records_why(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("AZURE_QUANTUM_CONNECTION_STRING", "AZURE_QUANTUM_RESOURCE_ID"):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(SolverUnavailable, match="AZURE_QUANTUM_CONNECTION_STRING"):
        get_solver("azure")
    bqm = random_bqm(6, "SPIN", seed=2)
    result = qcore.solve(bqm, solver="azure", fallback=("qaoa", "auto"), seed=0)
    assert result.solver == "qaoa"
    assert result.attempts[0].solver == "azure"
    assert "credentials" in result.attempts[0].message


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("azure.quantum") or name == "tenacity":
            raise ImportError(f"No module named {name!r} (simulated)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    reason = AzureQuantumSolver.unavailable_reason()
    assert reason is not None and "qcore[azure]" in reason
    with pytest.raises(SolverUnavailable, match=r"qcore\[azure\]") as info:
        AzureQuantumSolver(backend=object()).sample(random_bqm(3, "SPIN", seed=0))
    assert info.value.extra == "azure"


@pytest.mark.skipif(
    credentials_reason() is not None,
    reason="live Azure Quantum submission needs credentials: set "
    "AZURE_QUANTUM_CONNECTION_STRING (or AZURE_QUANTUM_RESOURCE_ID and AZURE_QUANTUM_LOCATION)",
)
def test_live_submission_to_ionq_simulator() -> None:
    bqm = random_bqm(4, "SPIN", seed=5)
    ss = get_solver("azure").sample(bqm, target="ionq.simulator", shots=100, seed=0, **FAST)
    assert_sampleset_matches(ss, bqm)
    assert ss.info["job_id"]


# -- error mitigation on Azure targets ------------------------------------------------------
def test_mitigation_refused_on_an_ideal_simulator_before_submission() -> None:
    from qcore.errors import MitigationUnsupported

    fake = FakeAzureBackend()
    with pytest.raises(
        MitigationUnsupported, match=r"mitigation: 'zne' on target 'ionq\.simulator'"
    ):
        AzureQuantumSolver(backend=fake).sample(
            random_bqm(4, "SPIN", seed=1), mitigation="zne", **FAST
        )
    assert fake.calls == 0


def test_mitigated_submission_runs_every_circuit_and_reports_each_estimate() -> None:
    bqm = random_bqm(4, "SPIN", seed=2)
    fake = FakeAzureBackend(name="quantinuum.sim.h2-1e")  # a noisy emulator (here: ideal stand-in)
    ss = AzureQuantumSolver(backend=fake).sample(
        bqm,
        mitigation="readout+zne",
        shots=400,
        readout_shots=200,
        max_cost_usd=None,
        seed=3,
        **FAST,
    )
    info = ss.info
    assert fake.calls == 5  # QAOA, folded x3 and x5, two calibration circuits
    assert set(info["expectation_by_mitigation"]) == {"none", "readout", "zne", "readout+zne"}
    assert info["mitigation_shots"] == 2 * 400 + 200
    assert info["cost_estimate"]["circuits"] == 5 and info["cost_estimate"]["shots"] == 1400
    # the stand-in is ideal: the calibration finds no readout error, so readout changes nothing
    by = info["expectation_by_mitigation"]
    assert by["readout"] == pytest.approx(by["none"])
    assert 0.0 <= info["approximation_ratio"] <= 1.0
    assert_sampleset_matches(ss, bqm)


def test_mitigation_circuits_priced_before_submission() -> None:
    bqm = random_bqm(5, "SPIN", seed=4)
    circuit = prepare_circuit(bqm, np.array([0.3]), np.array([-0.3]), None, ionq_backend().target)
    plain = azure_module.plan_cost("ionq.qpu.aria-1", [("qaoa", circuit, 500)])
    from qcore.solvers.mitigation import fold_two_qubit_gates

    folded = fold_two_qubit_gates(circuit, 3.0, np.random.default_rng(0))
    plan = [("qaoa", circuit, 500), ("zne x3", folded, 500)]
    plan += azure_module.readout_circuits(circuit, 5, 500)
    mitigated = azure_module.plan_cost("ionq.qpu.aria-1", plan)
    assert mitigated.circuits == 4 and mitigated.mitigation_shots == 1500
    # each circuit is its own IonQ program, with its own minimum charge
    assert mitigated.mitigation_usd >= 3 * azure_module.IONQ_QPU_MIN_USD
    assert mitigated.usd == pytest.approx(plain.usd + mitigated.mitigation_usd)
    fake = FakeAzureBackend(name="ionq.qpu.aria-1")
    with pytest.raises(SolverUnavailable, match=r"in 5 circuit\(s\)"):
        AzureQuantumSolver(backend=fake).sample(
            bqm, mitigation="readout+zne", max_cost_usd=400.0, seed=0, **FAST
        )
    assert fake.calls == 0
