"""QAOA (Farhi et al. 2014) on any BQM, simulated on PennyLane or Qiskit Aer, warm-startable.

Every run here is a classical statevector SIMULATION of a gate-model circuit (``SampleSet.info``
says so): it costs 2^n memory, hence the qubit guard (``max_qubits``, default 20; above it use
``solver="decompose"`` with ``sub_solver="qaoa"``).

One solve:
1. the cost Hamiltonian of the model (``qcore.solvers.hamiltonian``: weights and linear terms);
2. p layers ``U = prod_k exp(-i beta_k B) exp(-i gamma_k H)``; angles start from the fixed
   angles of 3-regular Max-Cut (Wurtz & Lykov 2021) and a small grid at p = 1, then grow
   layer by layer with INTERP (Zhou et al. 2020), each stage optimised by a scipy optimiser
   on the exact expectation (statevector) or on a shot estimate;
3. ``shots`` measurements; the SampleSet holds the measured bitstrings with their BQM energies.

Warm start (Egger, Marecek, Woerner 2021): from a classical solution (any registered solver,
or given samples) or the box relaxation ("relaxed"), each value ``c_i`` in [0, 1] is clipped to
``[eps, 1 - eps]`` (the regularisation), the initial state is ``prod_i RY(theta_i)|0>`` with
``theta_i = 2 asin(sqrt(c_i))``, and the mixer is the one whose ground state that is,
``RY(theta_i) RZ(-2 beta) RY(-theta_i)``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import dimod
import numpy as np
from scipy.optimize import minimize

from qcore.errors import (
    InvalidProblem,
    MitigationUnsupported,
    ProblemTooLarge,
    SolverUnavailable,
)
from qcore.solvers.base import (
    Deadline,
    QcoreSampler,
    check_choice,
    check_nonnegative_int,
    check_positive_int,
    check_real,
    check_real_sequence,
    check_sample_memory,
    check_str,
    make_rng,
)
from qcore.solvers.hamiltonian import cost_hamiltonian
from qcore.solvers.mitigation import DEFAULT_SCALE_FACTORS
from qcore.solvers.qaoa_circuit import QAOABackend, QAOACircuit
from qcore.validation import aligned_state

__all__ = [
    "FIXED_ANGLES_3REG",
    "OPTIMIZERS",
    "QAOABackend",
    "QAOACircuit",
    "QAOASolver",
    "fixed_angles",
    "interp_angles",
    "make_backend",
    "warm_start_thetas",
]

DEFAULT_MAX_QUBITS = 20
SIMULATION_NOTE = (
    "classical statevector simulation of a gate-model QAOA circuit (no quantum hardware)"
)
NOISY_SIMULATION_NOTE = (
    "classical simulation (Aer) of a gate-model QAOA circuit under a device noise model "
    "(no quantum hardware): {source}"
)
OPTIMIZE_ON = ("noisy", "noiseless")

# Wurtz & Lykov, "The fixed angle conjecture for QAOA on regular MaxCut graphs" (PRA 104,
# 052419, 2021), 3-regular graphs, in their convention (maximise the cut C, e^{-i gamma C}).
# Guaranteed approximation ratios: 0.6925, 0.7559, 0.7923, 0.8167.
FIXED_ANGLES_3REG: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    1: ((0.616,), (0.393,)),
    2: ((0.488, 0.898), (0.555, 0.293)),
    3: ((0.41787832, 0.79214776, 0.93232948), (0.60032889, 0.45241986, 0.23511412)),
    4: (
        (0.40718406, 0.77873346, 0.97786102, 1.14390016),
        (0.59413038, 0.44061878, 0.31250151, 0.16312574),
    ),
}
BACKENDS = ("auto", "pennylane", "aer", "qiskit")
# scipy.optimize.minimize methods that need nothing but the objective (the others want a
# gradient or a Hessian, which a circuit simulation does not give)
OPTIMIZERS = (
    "COBYLA",
    "COBYQA",
    "Nelder-Mead",
    "Powell",
    "L-BFGS-B",
    "BFGS",
    "CG",
    "TNC",
    "SLSQP",
    "trust-constr",
)
P1_GRID_GAMMA = (0.15, 0.35, 0.6, 0.9)
P1_GRID_BETA = (-0.6, -0.35, -0.15, 0.15, 0.35, 0.6)


def fixed_angles(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed angles in qcore's convention (minimise ``H``, mixer ``exp(-i beta X)``).

    Minimising ``H = -C + const`` with ``exp(-i gamma H)`` is the complex conjugate of the
    paper's circuit with ``beta -> -beta``, so the table's betas change sign. Above p = 4 the
    p = 4 angles are stretched with INTERP.
    """
    p = check_positive_int("p", p)
    top = min(p, max(FIXED_ANGLES_3REG))
    g, b = FIXED_ANGLES_3REG[top]
    gammas, betas = np.asarray(g, dtype=np.float64), -np.asarray(b, dtype=np.float64)
    while gammas.size < p:
        gammas, betas = interp_angles(gammas, betas)
    return gammas, betas


def interp_angles(gammas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """INTERP (Zhou et al., PRX 10, 021067, 2020): angles for p + 1 layers from p layers."""

    def grow(x: np.ndarray) -> np.ndarray:
        p = x.size
        padded = np.concatenate([[0.0], x, [0.0]])
        i = np.arange(1, p + 2)
        return (i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i]

    return grow(np.asarray(gammas, dtype=np.float64)), grow(np.asarray(betas, dtype=np.float64))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def make_backend(name: str, circuit: QAOACircuit, *, device: str | None = None) -> QAOABackend:
    """``"pennylane"``, ``"aer"``, ``"qiskit"`` (Qiskit's reference ``Statevector``) or
    ``"auto"`` (PennyLane when installed, else Aer, else plain Qiskit)."""
    if name == "auto":
        if _installed("pennylane"):
            name = "pennylane"
        elif _installed("qiskit_aer"):
            name = "aer"
        elif _installed("qiskit"):
            name = "qiskit"
        else:
            raise SolverUnavailable(
                "QAOA needs a circuit simulator: install one with "
                'pip install "qcore[pennylane]" or pip install "qcore[aer]"',
                extra="pennylane",
            )
    if name == "pennylane":
        from qcore.solvers.qaoa_pennylane import PennyLaneBackend

        return PennyLaneBackend(circuit, device=device)
    if name in ("aer", "qiskit") and device is not None:
        raise InvalidProblem(
            f"device: {device!r} is a PennyLane device name; the {name} backend takes none."
        )
    if name == "aer":
        from qcore.solvers.qaoa_aer import AerBackend

        return AerBackend(circuit)
    if name == "qiskit":
        from qcore.solvers.qaoa_aer import QiskitStatevectorBackend

        return QiskitStatevectorBackend(circuit)
    raise InvalidProblem(f"backend: {name!r}; use 'pennylane', 'aer', 'qiskit' or 'auto'.")


def check_optimizer(optimizer: object) -> str:
    """scipy's spelling of a gradient-free ``minimize`` method named in any case."""
    by_lower = {name.lower(): name for name in OPTIMIZERS}
    if not isinstance(optimizer, str) or optimizer.lower() not in by_lower:
        raise InvalidProblem(
            f"optimizer: {optimizer!r}; use a scipy.optimize.minimize method that needs no "
            f"gradient: {', '.join(OPTIMIZERS)}."
        )
    return by_lower[optimizer.lower()]


# -- warm start -------------------------------------------------------------------------
def relaxed_solution(bqm: dimod.BinaryQuadraticModel, rng: np.random.Generator) -> np.ndarray:
    """A local minimum of the box relaxation ``min x'Qx + c'x, x in [0, 1]^n`` (L-BFGS-B)."""
    binary = bqm if bqm.vartype is dimod.BINARY else bqm.change_vartype("BINARY", inplace=False)
    lin, (row, col, quad), _ = binary.to_numpy_vectors(variable_order=list(bqm.variables))
    n = len(lin)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        pair = quad * x[row] * x[col]
        grad = np.asarray(lin, dtype=np.float64).copy()
        np.add.at(grad, row, quad * x[col])
        np.add.at(grad, col, quad * x[row])
        return float(lin @ x + pair.sum()), grad

    x0 = np.clip(0.5 + 0.05 * rng.standard_normal(n), 0.0, 1.0)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * n)
    return np.clip(np.asarray(res.x, dtype=np.float64), 0.0, 1.0)


def _classical_values(
    warm_start: object, bqm: dimod.BinaryQuadraticModel, seed: int, time_limit: float | None
) -> tuple[np.ndarray, str]:
    order = list(bqm.variables)
    if isinstance(warm_start, str):
        from qcore.registry import get_solver

        kwargs: dict[str, Any] = {"seed": seed}
        if time_limit is not None:
            kwargs["time_limit"] = time_limit
        ss = get_solver(warm_start).sample(bqm, **kwargs)
        sample = ss.first.sample
        values = np.asarray([sample[v] for v in order], dtype=np.float64)
        source = f"solver {warm_start!r}"
    else:
        values = aligned_state(warm_start, order, "warm_start")
        source = "given sample"
    if bqm.vartype is dimod.SPIN:
        if not set(np.unique(values).tolist()) <= {-1.0, 1.0}:
            raise InvalidProblem("warm_start: a SPIN model needs values in {-1, +1}.")
        values = (values + 1.0) / 2.0
    elif not np.all((values >= 0.0) & (values <= 1.0)):
        raise InvalidProblem("warm_start: a BINARY model needs values in [0, 1].")
    return values, source


def warm_start_thetas(values: np.ndarray, epsilon: float) -> np.ndarray:
    """RY angles ``2 asin(sqrt(c))`` of the regularised values ``c = clip(values, eps, 1-eps)``."""
    c = np.clip(np.asarray(values, dtype=np.float64), epsilon, 1.0 - epsilon)
    return 2.0 * np.arcsin(np.sqrt(c))


class _Expired(Exception):
    pass


@dataclass
class _Tracker:
    """Keeps the best point an objective has seen, and stops it at the deadline."""

    fun: Callable[[np.ndarray], float]
    deadline: Deadline
    reserve: float
    best_x: np.ndarray | None = None
    best_f: float = math.inf
    nfev: int = 0

    def __call__(self, x: np.ndarray) -> float:
        if self.best_x is not None and self.deadline.remaining() < self.reserve:
            raise _Expired
        f = self.fun(np.asarray(x, dtype=np.float64))
        self.nfev += 1
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=np.float64)
        return f


class QAOASolver(QcoreSampler):
    """QAOA on a simulated gate-model device (PennyLane or Qiskit Aer), p layers, warm-startable.

    Parameters (all keyword): ``p`` (layers, 1), ``backend`` ("auto" | "pennylane" | "aer" |
    "qiskit"),
    ``device`` (PennyLane device name; default lightning.qubit when installed), ``shots``
    (final measurements, 1024), ``optimizer`` (scipy method, "COBYLA"), ``maxiter`` (per
    stage, 100), ``init`` ("interp" | "fixed" | "random"), ``angles`` (2p starting angles,
    gammas then betas; ``maxiter=0`` evaluates them as given), ``expectation`` ("exact" |
    "shots"), ``optimizer_shots`` (per evaluation in "shots" mode, 1024), ``warm_start``
    (solver name, "relaxed", or samples), ``warm_start_epsilon`` (0.25), ``max_qubits`` (20).

    Noise (Aer only): ``noise`` (None, "auto", an offline device name such as
    "fake_sherbrooke", a qiskit_aer ``NoiseModel`` or a Qiskit ``BackendV2``), ``mitigation``
    ("none" | "readout" | "zne" | "readout+zne"), ``optimize_on`` ("noisy": the optimiser sees
    the mitigated noisy estimate from ``optimizer_shots`` per circuit; "noiseless": angles from
    the ideal simulation, then evaluated on the noisy device), ``readout_shots`` (4096, the
    calibration's), ``zne_scale_factors`` ((1, 3, 5)), ``zne_extrapolation`` ("richardson" |
    "linear"), ``optimization_level`` (transpiler, 3).
    """

    name: ClassVar[str] = "qaoa"
    extra: ClassVar[str | None] = "pennylane"
    solver_parameters: ClassVar[dict[str, list]] = {
        "p": [],
        "backend": [],
        "device": [],
        "shots": [],
        "optimizer": [],
        "maxiter": [],
        "init": [],
        "angles": [],
        "expectation": [],
        "optimizer_shots": [],
        "warm_start": [],
        "warm_start_epsilon": [],
        "max_qubits": [],
        "noise": [],
        "mitigation": [],
        "optimize_on": [],
        "readout_shots": [],
        "zne_scale_factors": [],
        "zne_extrapolation": [],
        "optimization_level": [],
    }

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if _installed("pennylane") or _installed("qiskit_aer") or _installed("qiskit"):
            return None
        return (
            "no circuit simulator is installed; install one with "
            'pip install "qcore[pennylane]" or pip install "qcore[aer]"'
        )

    def _check(self, params: dict) -> dict:
        for name in ("p", "shots", "optimizer_shots", "max_qubits"):
            if name in params:
                params[name] = check_positive_int(name, params[name])
        if "maxiter" in params:
            params["maxiter"] = check_nonnegative_int("maxiter", params["maxiter"])
        if "init" in params:
            check_choice("init", params["init"], ("interp", "fixed", "random"))
        if "expectation" in params:
            check_choice("expectation", params["expectation"], ("exact", "shots"))
        backend = params.get("backend", "auto")
        check_choice("backend", backend, BACKENDS)
        if params.get("device") is not None:
            check_str("device", params["device"], "a PennyLane device such as 'default.qubit'")
            if backend in ("aer", "qiskit"):
                raise InvalidProblem(
                    f"device: {params['device']!r} is a PennyLane device name; the {backend} "
                    "backend takes none."
                )
        if "optimizer" in params:
            params["optimizer"] = check_optimizer(params["optimizer"])
        self._check_noise(params)
        depth, budget = params.get("p", 1), params.get("maxiter", 100)
        if params.get("optimizer", "COBYLA") == "COBYLA" and 0 < budget < 2 * depth + 2:
            raise InvalidProblem(
                f"maxiter: {budget}; COBYLA needs at least 2p + 2 = {2 * depth + 2} evaluations "
                "per stage (scipy would raise it silently); pass a larger maxiter, or maxiter=0 "
                "to evaluate the starting angles only."
            )
        if params.get("angles") is not None:
            params["angles"] = check_real_sequence(
                "angles", params["angles"], 2 * params.get("p", 1)
            )
        if "warm_start_epsilon" in params:
            params["warm_start_epsilon"] = check_real(
                "warm_start_epsilon", params["warm_start_epsilon"], low=0.0, high=0.5
            )
        warm = params.get("warm_start")
        if isinstance(warm, str) and warm != "relaxed":
            from qcore.registry import solver_names

            if warm not in solver_names():
                raise InvalidProblem(
                    f"warm_start: {warm!r} is neither 'relaxed' nor a registered solver "
                    f"({', '.join(solver_names())}); or pass samples."
                )
        return params

    @staticmethod
    def _check_noise(params: dict) -> None:
        from qcore.solvers.mitigation import EXTRAPOLATIONS, MITIGATIONS, check_scale_factors

        noise = params.get("noise")
        mitigation = params.get("mitigation", "none")
        check_choice("mitigation", mitigation, MITIGATIONS)
        if "optimize_on" in params:
            check_choice("optimize_on", params["optimize_on"], OPTIMIZE_ON)
        if "zne_extrapolation" in params:
            check_choice("zne_extrapolation", params["zne_extrapolation"], EXTRAPOLATIONS)
        if "readout_shots" in params:
            params["readout_shots"] = check_positive_int("readout_shots", params["readout_shots"])
        if "optimization_level" in params:
            level = params["optimization_level"]
            if type(level) is not int or level not in range(4):
                raise InvalidProblem(
                    f"optimization_level: {level!r}; use the transpiler's 0, 1, 2 or 3."
                )
        if "zne_scale_factors" in params:
            params["zne_scale_factors"] = check_scale_factors(params["zne_scale_factors"])
        backend = params.get("backend", "auto")
        if noise is None:
            if mitigation != "none":
                raise MitigationUnsupported(
                    f"mitigation: {mitigation!r} needs a noisy device; pass noise= ('auto', a "
                    "device name such as 'fake_sherbrooke', or a qiskit_aer NoiseModel) with "
                    "backend='aer'; an ideal simulation has no error to mitigate."
                )
            return
        if backend not in ("auto", "aer"):
            raise MitigationUnsupported(
                f"noise: backend {backend!r} simulates an ideal device; noisy simulation and "
                "mitigation need backend='aer'."
            )
        if isinstance(noise, str):
            from qcore.solvers.noise_models import resolve_noise

            resolve_noise(noise, 1)  # the name (the qubit count is checked with the model)
        elif not hasattr(noise, "basis_gates") and not hasattr(noise, "target"):
            raise InvalidProblem(
                f"noise: {type(noise).__name__}; pass 'auto', a device name such as "
                "'fake_sherbrooke', a qiskit_aer NoiseModel or a Qiskit BackendV2."
            )

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        p: int = 1,
        backend: str = "auto",
        device: str | None = None,
        shots: int = 1024,
        optimizer: str = "COBYLA",
        maxiter: int = 100,
        init: str = "interp",
        angles: Sequence[float] | None = None,
        expectation: str = "exact",
        optimizer_shots: int = 1024,
        warm_start: object = None,
        warm_start_epsilon: float = 0.25,
        max_qubits: int = DEFAULT_MAX_QUBITS,
        noise: Any = None,
        mitigation: str = "none",
        optimize_on: str = "noisy",
        readout_shots: int = 4096,
        zne_scale_factors: Sequence[float] = DEFAULT_SCALE_FACTORS,
        zne_extrapolation: str = "richardson",
        optimization_level: int = 3,
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        deadline = Deadline(time_limit)
        n = bqm.num_variables
        if n > max_qubits:
            raise ProblemTooLarge(
                f"QAOA here is a statevector simulation limited to max_qubits={max_qubits} "
                f"qubits (memory 2^n); the model has {n} variables. Use solver='decompose' "
                "with sub_solver='qaoa' and sub_size <= max_qubits, or raise max_qubits."
            )
        check_sample_memory("shots", max(shots, optimizer_shots), n)
        start_angles = None if angles is None else np.asarray(angles, dtype=np.float64)
        rng = make_rng(seed)
        ham = cost_hamiltonian(bqm)

        warm_info: dict[str, Any] | None = None
        thetas = None
        if warm_start is not None:
            wseed = int(rng.integers(0, 2**31 - 1))
            if isinstance(warm_start, str) and warm_start == "relaxed":
                values, source = relaxed_solution(bqm, np.random.default_rng(wseed)), "relaxed"
            else:
                budget = None if time_limit is None else 0.25 * time_limit
                values, source = _classical_values(warm_start, bqm, wseed, budget)
            thetas = warm_start_thetas(values, float(warm_start_epsilon))
            warm_info = {
                "source": source,
                "epsilon": float(warm_start_epsilon),
                "thetas": [float(t) for t in thetas],
            }
            if np.all((values == 0.0) | (values == 1.0)):
                bits = values.astype(np.int8)[None, :]
                warm_info["energy"] = float(ham.energies(bits)[0])

        scale = ham.scale
        reserve = 0.0 if time_limit is None else 0.15 * time_limit
        stages: list[dict[str, Any]] = []
        device_noise = None
        noisy: dict[int, Any] = {}
        if noise is not None:
            from qcore.solvers.noise_models import resolve_noise

            device_noise = resolve_noise(noise, n)
            backend = "aer"
            transpile_seed = int(rng.integers(0, 2**31 - 1))

        def noisy_for(depth: int) -> Any:
            if depth not in noisy:
                from qcore.solvers.qaoa_aer import NoisyAerBackend

                noisy[depth] = NoisyAerBackend(
                    QAOACircuit(ham, depth, thetas),
                    device_noise,
                    mitigation=mitigation,
                    scale_factors=tuple(zne_scale_factors),
                    extrapolation=zne_extrapolation,
                    readout_shots=readout_shots,
                    optimization_level=optimization_level,
                    seed=transpile_seed,
                )
            return noisy[depth]

        def ideal_for(depth: int) -> QAOABackend:
            return make_backend(backend, QAOACircuit(ham, depth, thetas), device=device)

        def backend_for(depth: int) -> Any:
            if device_noise is not None and optimize_on == "noisy":
                return noisy_for(depth)
            return ideal_for(depth)

        def objective_for(be: Any, depth: int, eval_seed: int) -> Callable:
            def f(x: np.ndarray) -> float:
                gammas, betas = x[:depth] / scale, x[depth:]
                if hasattr(be, "estimate"):  # a noisy device: the (mitigated) shot estimate
                    return be.estimate(gammas, betas, optimizer_shots, eval_seed)["mitigated"]
                if expectation == "exact":
                    return be.expectation(gammas, betas)
                rows, counts = be.sample(gammas, betas, optimizer_shots, eval_seed)
                return float(ham.energies(rows) @ counts / counts.sum())

            return f

        def optimise(be: QAOABackend, depth: int, x0: np.ndarray) -> np.ndarray:
            tracker = _Tracker(
                objective_for(be, depth, int(rng.integers(0, 2**31 - 1))), deadline, reserve
            )
            tracker(x0)
            if maxiter > 0:
                # TNC counts function evaluations under its own name
                options: dict[str, Any] = {"maxfun" if optimizer == "TNC" else "maxiter": maxiter}
                if optimizer.upper() == "COBYLA":
                    options["rhobeg"] = 0.1
                with contextlib.suppress(_Expired):
                    minimize(tracker, x0, method=optimizer, options=options)
            assert tracker.best_x is not None
            stages.append({"p": depth, "expectation": tracker.best_f, "nfev": tracker.nfev})
            return tracker.best_x

        def p1_start(be: Any) -> np.ndarray:
            if hasattr(be, "estimate"):  # the grid on the ideal simulation (cheap), then noise
                be = ideal_for(1)
            g, b = fixed_angles(1)
            candidates = [np.concatenate([g, b])]
            candidates += [np.array([gg, bb]) for gg in P1_GRID_GAMMA for bb in P1_GRID_BETA]
            values = []
            for x in candidates:
                if deadline.remaining() < reserve and values:
                    break
                values.append(objective_for(be, 1, 0)(x))
            return candidates[int(np.argmin(values))]

        if start_angles is not None:
            be = backend_for(p)
            x = np.concatenate([start_angles[:p] * scale, start_angles[p:]])
            x = optimise(be, p, x)
        elif init == "random":
            be = backend_for(p)
            x0 = np.concatenate([rng.uniform(0.0, 1.0, p), rng.uniform(-0.8, 0.8, p)])
            x = optimise(be, p, x0)
        elif init == "fixed":
            be = backend_for(p)
            g, b = fixed_angles(p)
            x = optimise(be, p, np.concatenate([g, b]))
        else:  # interp
            be = backend_for(1)
            x = optimise(be, 1, p1_start(be))
            for depth in range(2, p + 1):
                if deadline.remaining() < reserve:
                    g, b = x[: depth - 1], x[depth - 1 :]
                    while g.size < p:
                        g, b = interp_angles(g, b)
                    be, x = backend_for(p), np.concatenate([g, b])
                    break
                g, b = interp_angles(x[: depth - 1], x[depth - 1 :])
                be = backend_for(depth)
                x = optimise(be, depth, np.concatenate([g, b]))
        depth = x.size // 2
        gammas, betas = x[:depth] / scale, x[depth:]

        final_seed = int(rng.integers(0, 2**31 - 1))
        noise_info: dict[str, Any] = {}
        if device_noise is not None:
            noisy_be = noisy_for(depth)
            optimisation_shots = sum(b.shots_used for b in noisy.values())
            est = noisy_be.estimate(gammas, betas, shots, final_seed)
            rows, counts = est["samples"]
            ideal = ideal_for(depth)
            noiseless = float(ideal.expectation(gammas, betas))
            final_shots = sum(b.shots_used for b in noisy.values()) - optimisation_shots
            cal = noisy_be.readout_calibration
            noise_info = {
                "noise": {
                    "device": device_noise.name,
                    "source": device_noise.source,
                    "basis_gates": [g for g in device_noise.basis_gates],
                    "method": noisy_be.method,
                    "transpiled": noisy_be.transpiled,
                },
                "mitigation": mitigation,
                "optimize_on": optimize_on,
                "expectation_noiseless": noiseless,
                "expectation_unmitigated": est["unmitigated"],
                "expectation_mitigated": est["mitigated"],
                "expectation_by_mitigation": est["by_mitigation"],
                # every shot spent on mitigation in the run (calibration once, extra ZNE
                # circuits at every evaluation), and what the final estimate alone needed
                "mitigation_shots": sum(b.mitigation_shots for b in noisy.values()),
                "mitigation_shots_final": (cal.shots if cal is not None else 0)
                + shots * (len(noisy_be.scale_factors) - 1),
                "shots_final": final_shots,
                "shots_total": sum(b.shots_used for b in noisy.values()),
                "zne": None
                if "zne" not in mitigation
                else {
                    "scale_factors": list(noisy_be.scale_factors),
                    "extrapolation": zne_extrapolation,
                    "per_scale": est["per_scale"],
                    "per_scale_readout_corrected": est["per_scale_readout_corrected"],
                    "folding": "two-qubit gates G -> G (G^dag G)^k on the transpiled circuit",
                },
                "readout_calibration": None
                if cal is None
                else {
                    "shots": cal.shots,
                    "p1_given_0": [float(v) for v in cal.p1_given_0],
                    "p0_given_1": [float(v) for v in cal.p0_given_1],
                },
            }
        else:
            rows, counts = be.sample(gammas, betas, shots, final_seed)
        samples = ham.bits_to_samples(rows)
        sampleset = dimod.SampleSet.from_samples_bqm(
            (samples, ham.variables), bqm, num_occurrences=counts
        )
        final = stages[-1]["expectation"] if stages else float("nan")
        if noise_info:
            final = noise_info["expectation_mitigated"]
        ratio = approximation_ratio(ham, float(sampleset.first.energy))
        sampleset.info.update(
            {
                "solver": self.name,
                "simulated": True,
                "note": SIMULATION_NOTE
                if device_noise is None
                else NOISY_SIMULATION_NOTE.format(source=device_noise.source),
                "backend": be.name if device_noise is None else noisy_for(depth).name,
                "p": depth,
                "gammas": [float(v) for v in gammas],
                "betas": [float(v) for v in betas],
                "expectation": float(final),
                "expectation_mode": expectation,
                "stages": stages,
                "shots": shots,
                "num_qubits": n,
                "warm_start": warm_info,
                "proven_optimal": False,
                "approximation_ratio": ratio,
                **noise_info,
            }
        )
        return sampleset


APPROXIMATION_RATIO_MAX_QUBITS = 22


def approximation_ratio(ham: Any, energy: float) -> float | None:
    """``(E_max - energy) / (E_max - E_min)`` over every basis state (1: a ground state, 0: the
    worst state; for a Max-Cut model whose energy is minus the cut, cut / max cut). None above
    ``APPROXIMATION_RATIO_MAX_QUBITS`` (enumeration) or for a constant model."""
    if ham.num_qubits > APPROXIMATION_RATIO_MAX_QUBITS:
        return None
    diag = ham.diagonal()
    low, high = float(diag.min()), float(diag.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return None
    return (high - energy) / (high - low)


def labels_in_qubit_order(bqm: dimod.BinaryQuadraticModel) -> list[Hashable]:
    """The variable carried by each qubit (qubit ``i`` -> ``labels[i]``)."""
    return cost_hamiltonian(bqm).variables
