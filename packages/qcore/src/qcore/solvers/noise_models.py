"""Device noise for the QAOA simulation: offline device snapshots or a given Qiskit NoiseModel.

``noise`` (a parameter of ``qaoa`` on ``backend="aer"``) is one of:

* the name of an offline device: the fake backends of ``qiskit-ibm-runtime``
  (``fake_sherbrooke``, ``fake_torino``, ... ; :func:`available_devices` lists them), each
  built from a real IBM device's published calibration snapshot (gate errors and durations,
  T1/T2, readout errors, coupling map, basis gates). Needs ``qcore[noise]``.
* ``"auto"``: :data:`AUTO_DEVICES`' first device with enough qubits.
* a ``qiskit_aer.noise.NoiseModel``: its basis gates, no coupling map (all-to-all).
* a Qiskit ``BackendV2`` (a fake backend instance, ``GenericBackendV2``): its target and the
  noise model Aer derives from it.

A device is a SIMULATION of that device's snapshot (Aer, ``NoiseModel.from_backend``: depolarising
plus thermal relaxation per gate, readout assignment errors); it does not model crosstalk,
leakage, drift or non-Markovian noise, so real hardware is usually somewhat worse.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from qcore.errors import DeviceTooSmall, SolverUnavailable, UnknownDevice

__all__ = ["AUTO_DEVICES", "DeviceNoise", "available_devices", "resolve_noise"]

EXTRA = "noise"
# "auto": a current IBM Heron r1 (CZ, 133 qubits), then an Eagle r3 (ECR, 127 qubits), then the
# largest snapshot shipped (156-qubit Heron r2)
AUTO_DEVICES = ("fake_torino", "fake_sherbrooke", "fake_fez")


@dataclass(frozen=True)
class DeviceNoise:
    """What a noisy run simulates: the noise model, and the target to transpile to."""

    name: str  # device name, or "NoiseModel" / the backend's name
    source: str  # where the numbers come from, in words
    noise_model: Any  # qiskit_aer.noise.NoiseModel
    backend: Any | None  # BackendV2 with the coupling map and basis gates, or None
    basis_gates: tuple[str, ...]
    num_qubits: int | None  # None: the noise model applies to any number of qubits

    def transpile_kwargs(self) -> dict[str, Any]:
        if self.backend is not None:
            return {"backend": self.backend}
        return {"basis_gates": list(self.basis_gates)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # e.g. "Properties of fake_nighthawk are not intended to represent typical ... values"
        warnings.filterwarnings("ignore", category=UserWarning, module="qiskit_ibm_runtime")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def _fake_provider() -> Any:
    try:
        with _quiet():
            from qiskit_ibm_runtime import fake_provider
    except ImportError as exc:
        raise SolverUnavailable(
            f"noise: named devices come from qiskit-ibm-runtime's offline snapshots ({exc}); "
            'install them with pip install "qcore[noise]"',
            extra=EXTRA,
        ) from exc
    return fake_provider


def _snake(class_name: str) -> str:
    return "fake_" + re.sub(r"(?<!^)(?=[A-Z])", "_", class_name[4:]).lower()


@cache
def _device_classes() -> dict[str, Any]:
    fp = _fake_provider()
    base = fp.fake_backend.FakeBackendV2
    out = {}
    for attr in dir(fp):
        cls = getattr(fp, attr)
        if (
            attr.startswith("Fake")
            and isinstance(cls, type)
            and issubclass(cls, base)
            and cls is not base
        ):
            out[str(getattr(cls, "backend_name", None) or _snake(attr))] = cls
    return dict(sorted(out.items()))


def available_devices() -> list[str]:
    """Names of the offline device snapshots (``qiskit-ibm-runtime`` fake backends)."""
    return list(_device_classes())


@cache
def _device(name: str) -> Any:
    with _quiet():
        return _device_classes()[name]()


def _normalise(name: str) -> str:
    key = name.strip().lower()
    if key.startswith("ibm_"):
        key = key[4:]
    return key if key.startswith("fake_") else f"fake_{key}"


def resolve_noise(noise: Any, num_qubits: int) -> DeviceNoise:
    """The noise description for ``noise`` (name, "auto", NoiseModel or BackendV2), checked
    against a problem of ``num_qubits`` qubits."""
    if isinstance(noise, str):
        if noise == "auto":
            for name in AUTO_DEVICES:
                if name in _device_classes() and _device(name).num_qubits >= num_qubits:
                    return _named_device(name)
            raise DeviceTooSmall(
                f"noise: 'auto' found no offline device with {num_qubits} qubits (the largest "
                f"of {', '.join(AUTO_DEVICES)} is too small); pass a NoiseModel."
            )
        key = _normalise(noise)
        if key not in _device_classes():
            raise UnknownDevice(
                f"noise: {noise!r} is not an offline device; available: "
                f"{', '.join(available_devices())}, or 'auto', or a qiskit_aer NoiseModel."
            )
        backend = _device(key)
        if backend.num_qubits < num_qubits:
            raise DeviceTooSmall(
                f"noise: {key} has {backend.num_qubits} qubits and the problem needs "
                f"{num_qubits}; use a larger device ({', '.join(AUTO_DEVICES)}) or 'auto'."
            )
        return _named_device(key)
    if _is_noise_model(noise):
        return _from_noise_model(noise, num_qubits)
    if hasattr(noise, "target") and hasattr(noise, "num_qubits"):
        if noise.num_qubits < num_qubits:
            raise DeviceTooSmall(
                f"noise: backend {noise.name!r} has {noise.num_qubits} qubits and the problem "
                f"needs {num_qubits}."
            )
        return _from_backend(noise, str(noise.name))
    raise UnknownDevice(
        f"noise: {type(noise).__name__} is neither a device name ('auto', 'fake_sherbrooke', "
        "...), a qiskit_aer NoiseModel nor a Qiskit BackendV2."
    )


def _is_noise_model(obj: Any) -> bool:
    try:
        from qiskit_aer.noise import NoiseModel
    except ImportError:
        return False
    return isinstance(obj, NoiseModel)


@cache
def _named_device(name: str) -> DeviceNoise:
    return _from_backend(_device(name), name)


def _from_backend(backend: Any, name: str) -> DeviceNoise:
    from qiskit_aer.noise import NoiseModel

    with _quiet():
        model = NoiseModel.from_backend(backend)
    source = (
        f"{name}: qiskit-ibm-runtime offline snapshot of a real device's calibration"
        if name.startswith("fake_")
        else f"backend {name!r} (noise model derived from its target)"
    )
    return DeviceNoise(
        name=name,
        source=source,
        noise_model=model,
        backend=backend,
        basis_gates=tuple(model.basis_gates),
        num_qubits=int(backend.num_qubits),
    )


def _from_noise_model(model: Any, num_qubits: int) -> DeviceNoise:
    local = sorted(int(q) for q in model.noise_qubits)
    has_global = bool(
        getattr(model, "_default_quantum_errors", None)
        or getattr(model, "_default_readout_error", None)
    )
    covered = None if has_global or not local else max(local) + 1
    if covered is not None and covered < num_qubits:
        raise DeviceTooSmall(
            f"noise: the NoiseModel has errors on qubits 0..{covered - 1} only ({covered} "
            f"qubits) and the problem needs {num_qubits}; build it for a device with at "
            f"least {num_qubits} qubits, or use all-qubit errors."
        )
    return DeviceNoise(
        name="NoiseModel",
        source="a user-supplied qiskit_aer NoiseModel (no coupling map: all-to-all)",
        noise_model=model,
        backend=None,
        basis_gates=tuple(model.basis_gates),
        num_qubits=covered,
    )


def _two_qubit_errors(backend: Any) -> dict[tuple[int, int], float]:
    """Error rate of the native two-qubit gate on each directed pair of the device."""
    target = backend.target
    errors: dict[tuple[int, int], float] = {}
    for op_name in target.operation_names:
        op = target.operation_from_name(op_name)
        if getattr(op, "num_qubits", 0) != 2 or isinstance(op, type):
            continue
        for qargs, props in (target[op_name] or {}).items():
            if qargs is None or len(qargs) != 2:
                continue
            err = getattr(props, "error", None) if props is not None else None
            err = 1.0 if err is None else float(err)
            errors[qargs] = min(errors.get(qargs, 1.0), err)
    return errors


def _readout_error(backend: Any, qubit: int) -> float:
    target = backend.target
    if "measure" in target.operation_names:
        props = target["measure"].get((qubit,))
        if props is not None and props.error is not None:
            return float(props.error)
    return 0.0


def choose_qubits(backend: Any, num_qubits: int) -> tuple[list[int], list[tuple[int, int]]]:
    """A connected set of ``num_qubits`` physical qubits with low errors, and the directed
    native two-qubit pairs among them.

    Greedy: start from the pair with the lowest two-qubit error (ties by readout error), then
    add the neighbour whose best link into the set has the lowest error plus its readout
    error. Routing is then confined to these qubits (no ancillas), so the simulation holds
    exactly ``num_qubits`` qubits.
    """
    errors = _two_qubit_errors(backend)
    if num_qubits == 1 or not errors:
        ranked = sorted(range(backend.num_qubits), key=lambda q: _readout_error(backend, q))
        return ranked[:num_qubits], []
    usable = {pair: e for pair, e in errors.items() if e < 0.5}
    undirected: dict[frozenset[int], float] = {}
    for (a, b), e in usable.items():
        key = frozenset((a, b))
        undirected[key] = min(undirected.get(key, 1.0), e)
    start = min(
        undirected,
        key=lambda k: (undirected[k], sum(_readout_error(backend, q) for q in k)),
    )
    chosen = set(start)
    while len(chosen) < num_qubits:
        best, best_score = None, None
        for key, e in undirected.items():
            inside = key & chosen
            if len(inside) != 1:
                continue
            (new,) = key - chosen
            score = e + _readout_error(backend, new)
            if best_score is None or score < best_score:
                best, best_score = new, score
        if best is None:
            raise DeviceTooSmall(
                f"noise: {backend.name} has no connected set of {num_qubits} working qubits."
            )
        chosen.add(best)
    qubits = sorted(chosen)
    pairs = sorted(pair for pair in usable if pair[0] in chosen and pair[1] in chosen)
    return qubits, pairs


def restrict_noise_model(model: Any, qubits: list[int]) -> Any:
    """The part of ``model`` on ``qubits``, relabelled ``qubits[k] -> k``.

    Simulating a device-wide (127-qubit) noise model costs seconds per run in Aer even when
    the circuit touches 8 qubits; the restricted model gives the same errors on those qubits
    (every gate, readout and all-qubit error whose qubits all lie in the set).
    """
    from qiskit_aer.noise import NoiseModel

    index = {q: k for k, q in enumerate(qubits)}
    out = NoiseModel(basis_gates=list(model.basis_gates))
    for gate, error in model._default_quantum_errors.items():
        out.add_all_qubit_quantum_error(error, gate, warnings=False)
    if model._default_readout_error is not None:
        out.add_all_qubit_readout_error(model._default_readout_error, warnings=False)
    for gate, by_qubits in model._local_quantum_errors.items():
        for qargs, error in by_qubits.items():
            if all(q in index for q in qargs):
                out.add_quantum_error(error, gate, [index[q] for q in qargs], warnings=False)
    for qargs, error in model._local_readout_errors.items():
        if all(q in index for q in qargs):
            out.add_readout_error(error, [index[q] for q in qargs], warnings=False)
    return out
