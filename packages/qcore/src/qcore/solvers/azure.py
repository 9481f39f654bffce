"""QAOA on Azure Quantum targets: angles optimised locally, the bound circuit sampled remotely.

Azure Quantum's optimisation service (QIO) was retired; what exists is circuit submission to
targets (IonQ, Quantinuum, Rigetti simulators and QPUs) through ``azure-quantum`` and its
Qiskit provider. This solver:

1. optimises the QAOA angles locally (a classical simulation, as ``qaoa`` does);
2. binds them into the measured circuit and transpiles it to the target's gate set;
3. estimates shots and cost, and refuses above ``max_shots`` / ``max_cost_usd``;
4. submits with retries (tenacity, jittered exponential backoff) for transient errors only,
   waits within ``time_limit``, and decodes the counts into a SampleSet.

Credentials come from ``AZURE_QUANTUM_CONNECTION_STRING``, or ``AZURE_QUANTUM_RESOURCE_ID`` and
``AZURE_QUANTUM_LOCATION`` (with ``DefaultAzureCredential``). Missing credentials, no network,
failed authentication, quota and throttling end in ``SolverUnavailable`` (a slow job in
``SolverTimeout``), each with the reason, so ``qcore.solve(..., fallback=("azure", "qaoa",
"auto"))`` falls back and records why. Only this solver, with credentials, touches hardware or
cloud simulators; everything else in qcore's quantum path is a local simulation.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import dimod
import numpy as np

from qcore.errors import (
    InvalidProblem,
    MitigationUnsupported,
    ProblemTooLarge,
    SolverTimeout,
    SolverUnavailable,
)
from qcore.solvers.base import (
    Deadline,
    QcoreSampler,
    check_choice,
    check_mapping,
    check_positive_int,
    check_real,
    check_str,
    make_rng,
)
from qcore.solvers.hamiltonian import cost_hamiltonian
from qcore.solvers.qaoa import QAOASolver
from qcore.solvers.qaoa_circuit import QAOACircuit

__all__ = [
    "AzureQuantumSolver",
    "CostEstimate",
    "classify_error",
    "estimate_cost",
    "prepare_circuit",
]

EXTRA = "azure"
CONNECTION_STRING_ENV = "AZURE_QUANTUM_CONNECTION_STRING"
RESOURCE_ID_ENV = "AZURE_QUANTUM_RESOURCE_ID"
LOCATION_ENV = "AZURE_QUANTUM_LOCATION"
DEFAULT_TARGET = "ionq.simulator"
# Third-party deprecation notices raised while importing / translating (not ours to fix).
_THIRD_PARTY_WARNINGS = (
    "The 'qsharp' package is deprecated",
    r"AzureBackendBase.configuration\(\) is deprecated",
)

# List prices as published on the Azure Quantum pricing page (pay-as-you-go) when this was
# written; they change, so they only gate submission (max_cost_usd), never bill anything.
IONQ_QPU_USD_PER_1Q_GATE_SHOT = 0.000220
IONQ_QPU_USD_PER_2Q_GATE_SHOT = 0.000975
IONQ_QPU_MIN_USD = 97.50


@dataclass(frozen=True)
class CostEstimate:
    """What a submission would use; ``usd`` is None when it cannot be priced offline."""

    target: str
    shots: int
    one_qubit_gates: int
    two_qubit_gates: int
    measurements: int
    usd: float | None
    hqc: float | None  # Quantinuum H-system quantum credits, when the target uses them
    note: str
    # a mitigated submission: every circuit (QAOA, folded copies, calibration) is a job
    circuits: int = 1
    mitigation_shots: int = 0
    mitigation_usd: float | None = 0.0


def is_simulator(target: str) -> bool:
    return any(word in target for word in (".simulator", ".sim.", "qvm", "syntax"))


def estimate_cost(target: str, circuit: Any, shots: int) -> CostEstimate:
    """Gate counts of the transpiled ``circuit`` and a price estimate for ``target``."""
    n1 = n2 = nm = 0
    for instruction in circuit.data:
        op = instruction.operation
        if op.name == "measure":
            nm += 1
        elif op.name in ("barrier", "delay"):
            continue
        elif op.num_qubits == 1:
            n1 += 1
        else:
            n2 += 1
    hqc = None
    if target.startswith("quantinuum."):
        hqc = 5.0 + shots * (n1 + 10 * n2 + 5 * nm) / 5000.0
    if is_simulator(target):
        usd, note = 0.0, "simulator target: no charge (emulators may draw on a credit quota)"
    elif target.startswith("ionq."):
        usd = shots * (n1 * IONQ_QPU_USD_PER_1Q_GATE_SHOT + n2 * IONQ_QPU_USD_PER_2Q_GATE_SHOT)
        usd = max(usd, IONQ_QPU_MIN_USD)
        note = "IonQ QPU list price (per gate-shot, with the per-program minimum)"
    else:
        usd, note = None, "no offline price for this target; pass max_cost_usd=None to submit"
    return CostEstimate(target, shots, n1, n2, nm, usd, hqc, note)


def noiseless_target(target: str) -> bool:
    """Ideal simulators and syntax checkers: nothing there for mitigation to correct."""
    return (
        target in ("ionq.simulator",)
        or "qvm" in target
        or "syntax" in target
        or (".sim." in target and target.endswith("sc"))
    )


def plan_cost(target: str, plan: list[tuple[str, Any, int]]) -> CostEstimate:
    """The cost of submitting every circuit of ``plan`` (``(role, circuit, shots)``; the first
    is the QAOA circuit itself): one job each, so a per-program minimum applies to each."""
    parts = [estimate_cost(target, qc, k) for _, qc, k in plan]
    main, extra = parts[0], parts[1:]
    usd = None if any(c.usd is None for c in parts) else sum(float(c.usd) for c in parts)
    hqc = None if main.hqc is None else sum(float(c.hqc or 0.0) for c in parts)
    extra_usd = None if any(c.usd is None for c in extra) else sum(float(c.usd) for c in extra)
    note = main.note
    if extra:
        note += f"; {len(extra)} more circuits for mitigation, each its own job"
    return CostEstimate(
        target=target,
        shots=sum(c.shots for c in parts),
        one_qubit_gates=main.one_qubit_gates,
        two_qubit_gates=main.two_qubit_gates,
        measurements=main.measurements,
        usd=usd,
        hqc=hqc,
        note=note,
        circuits=len(parts),
        mitigation_shots=sum(c.shots for c in extra),
        mitigation_usd=extra_usd,
    )


def classify_error(exc: BaseException) -> str:
    """``"auth"``, ``"quota"``, ``"transient"`` or ``"other"`` for an Azure/HTTP error."""
    name = type(exc).__name__
    text = str(exc).lower()
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if name in ("ClientAuthenticationError", "CredentialUnavailableError") or status in (
        401,
        403,
    ):
        return "quota" if "quota" in text else "auth"
    if "quota" in text or ("exceeded" in text and "limit" in text):
        return "quota"
    if status == 429 or (isinstance(status, int) and status >= 500):
        return "transient"
    if name in ("ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError"):
        return "transient"
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return "transient"
    return "other"


@contextmanager
def _quiet_third_party() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _THIRD_PARTY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        yield


def _import_azure() -> tuple[Any, Any]:
    try:
        with _quiet_third_party():
            import tenacity
            from azure.quantum import Workspace
            from azure.quantum.qiskit import AzureQuantumProvider
    except ImportError as exc:
        raise SolverUnavailable(
            f"the Azure Quantum solver needs azure-quantum[qiskit] and tenacity ({exc}); "
            f'install them with pip install "qcore[{EXTRA}]"',
            extra=EXTRA,
        ) from exc
    return tenacity, (Workspace, AzureQuantumProvider)


def credentials_reason() -> str | None:
    """None when credentials are configured in the environment, else what to set."""
    if os.environ.get(CONNECTION_STRING_ENV):
        return None
    if os.environ.get(RESOURCE_ID_ENV) and os.environ.get(LOCATION_ENV):
        return None
    return (
        f"no Azure Quantum credentials: set {CONNECTION_STRING_ENV} (or {RESOURCE_ID_ENV} and "
        f"{LOCATION_ENV}) to submit to a target"
    )


def prepare_circuit(
    bqm: dimod.BinaryQuadraticModel,
    gammas: np.ndarray,
    betas: np.ndarray,
    warm_thetas: np.ndarray | None,
    target: Any,
) -> Any:
    """The measured QAOA circuit with bound angles, transpiled to ``target`` (a Qiskit Target
    or a list of basis-gate names)."""
    from qiskit import transpile

    from qcore.solvers.qaoa_aer import bind, qiskit_circuit

    ham = cost_hamiltonian(bqm)
    qc = qiskit_circuit(QAOACircuit(ham, len(gammas), warm_thetas), measure=True)
    bound = bind(qc, np.asarray(gammas), np.asarray(betas))
    with _quiet_third_party():
        if isinstance(target, list | tuple):
            return transpile(bound, basis_gates=list(target), optimization_level=1)
        return transpile(bound, target=target, optimization_level=1)


def readout_circuits(circuit: Any, n: int, shots: int) -> list[tuple[str, Any, int]]:
    """The two readout-calibration circuits (all ``|0>``, all ``|1>``) on the qubits that
    ``circuit`` (transpiled) measures into classical bits ``0..n-1``."""
    from qiskit import QuantumCircuit

    measured = [0] * n
    for ins in circuit.data:
        if ins.operation.name == "measure":
            measured[circuit.find_bit(ins.clbits[0]).index] = circuit.find_bit(ins.qubits[0]).index
    out = []
    for flip in (False, True):
        qc = QuantumCircuit(circuit.num_qubits, n, name=f"readout_cal_{int(flip)}")
        for i, q in enumerate(measured):
            if flip:
                qc.x(q)
            qc.measure(q, i)
        out.append((f"readout calibration |{int(flip)}>", qc, shots))
    return out


class AzureQuantumSolver(QcoreSampler):
    """QAOA whose final sampling runs on an Azure Quantum target (``target``, default
    ``ionq.simulator``). Parameters: ``target``, ``shots`` (500), ``p`` (1), ``max_shots``
    (10000), ``max_cost_usd`` (0.0: only free targets; None: no cost limit), ``retries`` (4),
    ``qaoa_params`` (dict for the local angle optimisation, e.g. ``{"maxiter": 50}``),
    ``warm_start`` (as for ``qaoa``), ``max_qubits`` (20), ``mitigation`` ("none" | "readout" |
    "zne" | "readout+zne": extra calibration and folded circuits, priced before submission;
    refused on ideal simulators), ``readout_shots`` (1000), ``zne_scale_factors`` ((1, 3, 5)),
    ``zne_extrapolation`` ("richardson" | "linear").

    ``backend`` (constructor) injects a ready Qiskit-style backend (tests, custom providers);
    without it the backend comes from an ``AzureQuantumProvider`` built from the environment.
    """

    name: ClassVar[str] = "azure"
    extra: ClassVar[str | None] = EXTRA
    solver_parameters: ClassVar[dict[str, list]] = {
        "target": [],
        "shots": [],
        "p": [],
        "max_shots": [],
        "max_cost_usd": [],
        "retries": [],
        "qaoa_params": [],
        "warm_start": [],
        "max_qubits": [],
        "mitigation": [],
        "readout_shots": [],
        "zne_scale_factors": [],
        "zne_extrapolation": [],
    }

    def __init__(self, backend: Any = None, *, sleep: Callable[[float], None] | None = None):
        self._backend = backend
        self._sleep = sleep

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            _import_azure()
        except SolverUnavailable as exc:
            return str(exc)
        return credentials_reason()

    @property
    def properties(self) -> dict[str, Any]:
        return {**super().properties, "cloud": True}

    # -- cloud plumbing -------------------------------------------------------------------
    def _retrying(self, retries: int, deadline: Deadline) -> Any:
        tenacity, _ = _import_azure()

        def transient(exc: BaseException) -> bool:
            return classify_error(exc) == "transient" and deadline.remaining() > 0

        kwargs: dict[str, Any] = {
            "stop": tenacity.stop_after_attempt(retries),
            "wait": tenacity.wait_random_exponential(multiplier=0.5, max=8.0),
            "retry": tenacity.retry_if_exception(transient),
            "reraise": True,
        }
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        return tenacity.Retrying(**kwargs)

    def _unavailable(self, exc: BaseException, step: str, target: str) -> SolverUnavailable:
        kind = classify_error(exc)
        reason = {
            "auth": "authentication failed (check the credentials and workspace access)",
            "quota": "quota or spending limit reached",
            "transient": "the service or network did not answer (retries exhausted)",
            "other": "the request failed",
        }[kind]
        return SolverUnavailable(
            f"Azure Quantum {step} for target {target!r}: {reason}: {type(exc).__name__}: {exc}",
            extra=EXTRA,
        )

    def _get_backend(self, target: str, retries: int, deadline: Deadline) -> Any:
        if self._backend is not None:
            return self._backend
        reason = credentials_reason()
        if reason:
            raise SolverUnavailable(reason, extra=EXTRA)
        _, (Workspace, AzureQuantumProvider) = _import_azure()

        def connect() -> Any:
            with _quiet_third_party():
                cs = os.environ.get(CONNECTION_STRING_ENV)
                if cs:
                    workspace = Workspace.from_connection_string(cs)
                else:
                    workspace = Workspace(
                        resource_id=os.environ[RESOURCE_ID_ENV],
                        location=os.environ[LOCATION_ENV],
                    )
                return AzureQuantumProvider(workspace).get_backend(target)

        try:
            return self._retrying(retries, deadline)(connect)
        except Exception as exc:
            raise self._unavailable(exc, "connection", target) from exc

    @staticmethod
    def _target_of(backend: Any) -> Any:
        target = getattr(backend, "target", None)
        if target is not None:
            return target
        with _quiet_third_party():
            return list(backend.configuration().basis_gates)

    def _wait(self, job: Any, deadline: Deadline, target: str) -> Any:
        poll = 0.5
        while True:
            status = job.status()
            state = getattr(status, "name", str(status)).upper()
            if state in ("DONE", "SUCCEEDED", "COMPLETED"):
                return job.result()
            if state in ("ERROR", "FAILED", "CANCELLED"):
                raise SolverUnavailable(
                    f"Azure Quantum job {job.id()} on {target!r} ended in state {state}.",
                    extra=EXTRA,
                )
            if deadline.remaining() <= 0:
                with contextlib.suppress(Exception):  # best effort; we report the timeout
                    job.cancel()
                raise SolverTimeout(
                    f"Azure Quantum job {job.id()} on {target!r} did not finish within the "
                    f"time limit ({deadline.seconds:.3g} s, last state {state}); cancelled."
                )
            (self._sleep or time.sleep)(min(poll, max(deadline.remaining(), 0.0)))
            poll = min(poll * 1.5, 5.0)

    def _check(self, params: dict) -> dict:
        for name in ("shots", "p", "max_shots", "retries", "max_qubits"):
            if name in params:
                params[name] = check_positive_int(name, params[name])
        if "target" in params:
            check_str(
                "target", params["target"], "an Azure Quantum target such as 'ionq.simulator'"
            )
        if params.get("max_cost_usd") is not None:
            params["max_cost_usd"] = check_real(
                "max_cost_usd", params["max_cost_usd"], low=0.0, hint=", or None for no limit"
            )
        shots, max_shots = params.get("shots", 500), params.get("max_shots", 10_000)
        if shots > max_shots:
            raise InvalidProblem(
                f"shots: {shots} exceeds max_shots={max_shots}; lower shots or raise max_shots."
            )
        reserved = {
            "p": "pass p to the azure solver itself.",
            "shots": "the local optimisation draws one shot; pass shots to the azure solver.",
            "seed": "the azure solver derives it from its own seed.",
            "time_limit": "the azure solver gives the local optimisation part of its time_limit.",
            "warm_start": "pass warm_start to the azure solver itself.",
        }
        qaoa_params = check_mapping("qaoa_params", params.get("qaoa_params"), reserved=reserved)
        try:
            params["qaoa_params"] = QAOASolver().check_values(qaoa_params)
        except InvalidProblem as exc:
            raise type(exc)(f"qaoa_params: {exc}") from None
        from qcore.solvers.mitigation import EXTRAPOLATIONS, MITIGATIONS, check_scale_factors

        check_choice("mitigation", params.get("mitigation", "none"), MITIGATIONS)
        if "zne_extrapolation" in params:
            check_choice("zne_extrapolation", params["zne_extrapolation"], EXTRAPOLATIONS)
        if "readout_shots" in params:
            params["readout_shots"] = check_positive_int("readout_shots", params["readout_shots"])
        if "zne_scale_factors" in params:
            params["zne_scale_factors"] = check_scale_factors(params["zne_scale_factors"])
        if params.get("warm_start") is not None:
            QAOASolver().check_values({"warm_start": params["warm_start"]})
        return params

    def _submit(
        self, backend: Any, qc: Any, shots: int, retries: int, deadline: Deadline, target: str
    ) -> Any:
        def submit() -> Any:
            with _quiet_third_party():
                return backend.run(qc, shots=shots)

        try:
            return self._retrying(retries, deadline)(submit)
        except Exception as exc:
            raise self._unavailable(exc, "submission", target) from exc

    # -- the solve ------------------------------------------------------------------------
    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        target: str = DEFAULT_TARGET,
        shots: int = 500,
        p: int = 1,
        max_shots: int = 10_000,
        max_cost_usd: float | None = 0.0,
        retries: int = 4,
        qaoa_params: dict[str, Any] | None = None,
        warm_start: object = None,
        max_qubits: int = 20,
        mitigation: str = "none",
        readout_shots: int = 1000,
        zne_scale_factors: tuple[float, ...] = (1.0, 3.0, 5.0),
        zne_extrapolation: str = "richardson",
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        deadline = Deadline(time_limit)
        n = bqm.num_variables
        if n > max_qubits:
            raise ProblemTooLarge(
                f"the Azure solver optimises angles on a local {max_qubits}-qubit statevector "
                f"simulation; the model has {n} variables. Use solver='decompose' with "
                "sub_solver='azure' and sub_size <= max_qubits."
            )
        _import_azure()
        backend = self._get_backend(target, retries, deadline)
        rng = make_rng(seed)

        # 1. local angle optimisation (classical simulation), 1 shot: only the angles matter
        local: dict[str, Any] = {"p": p, "shots": 1, **(qaoa_params or {})}
        if warm_start is not None:
            local["warm_start"] = warm_start
        if time_limit is not None:
            local["time_limit"] = max(0.4 * deadline.remaining(), 1e-3)
        opt = QAOASolver().sample(bqm, seed=int(rng.integers(0, 2**31 - 1)), **local)
        gammas = np.asarray(opt.info["gammas"])
        betas = np.asarray(opt.info["betas"])
        thetas = None
        if opt.info.get("warm_start"):
            thetas = opt.info["warm_start"].get("thetas")
            thetas = None if thetas is None else np.asarray(thetas)

        # 2. bound circuit in the target's gate set (plus mitigation circuits), 3. cost check
        from qcore.solvers.mitigation import (
            ReadoutCalibration,
            extrapolate,
            fold_two_qubit_gates,
            hamiltonian_expectation,
            mitigation_parts,
        )
        from qcore.solvers.qaoa_aer import counts_to_rows

        circuit = prepare_circuit(bqm, gammas, betas, thetas, self._target_of(backend))
        target_name = str(getattr(backend, "name", target))
        readout, zne = mitigation_parts(mitigation)
        if mitigation != "none" and noiseless_target(target_name):
            raise MitigationUnsupported(
                f"mitigation: {mitigation!r} on target {target_name!r}, an ideal simulator: "
                "there is no error to mitigate; use a QPU or a noisy emulator, or "
                "mitigation='none'."
            )
        plan: list[tuple[str, Any, int]] = [("qaoa", circuit, shots)]
        scales = tuple(zne_scale_factors) if zne else (1.0,)
        fold_rng = np.random.default_rng(int(rng.integers(0, 2**31 - 1)))
        for scale in scales[1:]:
            plan.append((f"zne x{scale:g}", fold_two_qubit_gates(circuit, scale, fold_rng), shots))
        if readout:
            plan += readout_circuits(circuit, n, max(readout_shots // 2, 1))
        cost = plan_cost(target_name, plan)
        if cost.shots > max_shots:
            raise InvalidProblem(
                f"shots: {cost.shots} in all ({cost.mitigation_shots} for mitigation={mitigation!r}"
                f") exceeds max_shots={max_shots}; lower shots or readout_shots, or raise "
                "max_shots."
            )
        if max_cost_usd is not None and (cost.usd is None or cost.usd > max_cost_usd):
            priced = "cannot be priced offline" if cost.usd is None else f"~${cost.usd:.2f}"
            raise SolverUnavailable(
                f"Azure Quantum submission to {target_name!r} refused: {cost.shots} shots in "
                f"{cost.circuits} circuit(s) {priced} exceeds max_cost_usd={max_cost_usd} "
                f"({cost.note}).",
                extra=EXTRA,
            )

        # 4. submit each circuit with retries, wait within the budget, decode the counts
        results: list[tuple[np.ndarray, np.ndarray]] = []
        job_ids: list[str] = []
        for _role, qc, k in plan:
            job = self._submit(backend, qc, k, retries, deadline, target_name)
            job_ids.append(str(job.id()))
            try:
                with _quiet_third_party():
                    result = self._wait(job, deadline, target_name)
                    counts = result.get_counts()
            except (SolverTimeout, SolverUnavailable):
                raise
            except Exception as exc:
                raise self._unavailable(exc, "result retrieval", target_name) from exc
            results.append(counts_to_rows(dict(counts), n))

        ham = cost_hamiltonian(bqm)
        rows, freq = results[0]
        if freq.sum() == 0:
            raise SolverUnavailable(f"Azure Quantum job on {target_name!r} returned no counts.")
        samples = ham.bits_to_samples(rows)
        sampleset = dimod.SampleSet.from_samples_bqm(
            (samples, ham.variables), bqm, num_occurrences=freq
        )
        raw = [hamiltonian_expectation(ham, r, c) for r, c in results[: len(scales)]]
        by = {"none": raw[0]}
        calibration = None
        if readout:
            calibration = ReadoutCalibration.from_counts(results[-2], results[-1])
            corrected = [calibration.expectation(ham, r, c) for r, c in results[: len(scales)]]
            by["readout"] = corrected[0]
        if zne:
            by["zne"] = extrapolate(scales, raw, zne_extrapolation)
            if readout:
                by["readout+zne"] = extrapolate(scales, corrected, zne_extrapolation)
        from qcore.solvers.qaoa import approximation_ratio

        sampleset.info.update(
            {
                "solver": self.name,
                "target": target_name,
                "job_id": job_ids[0],
                "job_ids": job_ids,
                "simulated": is_simulator(target_name),
                "note": (
                    f"angles optimised by local simulation ({opt.info['backend']}); "
                    f"samples measured on Azure Quantum target {target_name!r}"
                ),
                "p": len(gammas),
                "gammas": [float(v) for v in gammas],
                "betas": [float(v) for v in betas],
                "local_expectation": opt.info["expectation"],
                "expectation_noiseless": opt.info["expectation"]
                if opt.info.get("expectation_mode") == "exact"
                else None,
                "expectation_unmitigated": float(raw[0]),
                "expectation_mitigated": float(by[mitigation]),
                "expectation_by_mitigation": {k: float(v) for k, v in by.items()},
                "mitigation": mitigation,
                "mitigation_shots": cost.mitigation_shots,
                "approximation_ratio": approximation_ratio(ham, float(sampleset.first.energy)),
                "shots": shots,
                "cost_estimate": asdict(cost),
                "proven_optimal": False,
            }
        )
        if not math.isfinite(float(sampleset.first.energy)):
            raise SolverUnavailable("decoded samples have non-finite energies.")
        return sampleset
