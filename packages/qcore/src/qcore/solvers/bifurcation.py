"""Simulated bifurcation (Goto, Tatsumura, Dixon, Sci. Adv. 2019; Goto et al., Sci. Adv. 2021).

A batch of ``agents`` oscillators evolves under the symplectic-Euler equations of the
ballistic (bSB) or discrete (dSB) variant; the sign of each position is a spin assignment.
The same loop runs on numpy (CPU, dense or scipy-sparse couplings) and on torch (CPU or CUDA,
dense or sparse CSR): both modules provide the handful of operations it needs.

Linear biases become couplings to one extra spin fixed by symmetry (global flip), so the
dynamics see a pure Ising model, as in the papers.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import dimod
import numpy as np
import scipy.sparse as sp

from qcore.errors import InvalidProblem, SolverUnavailable
from qcore.solvers.base import (
    Deadline,
    QcoreSampler,
    check_choice,
    check_positive_int,
    check_real,
    check_sample_memory,
    check_str,
    make_rng,
)
from qcore.validation import ising_arrays, spins_to_vartype

VARIANTS = ("ballistic", "discrete")
DEFAULT_AGENTS = 128
DENSE_ABOVE = 0.1  # couplings denser than this use a dense matrix product


def augmented_couplings(h: np.ndarray, J: sp.csr_matrix) -> sp.csr_matrix:
    """``[[0, h], [h, J]]``: with spin 0 fixed to +1, 0.5 s' J' s' = h.s + 0.5 s J s."""
    n = h.shape[0]
    col = sp.csr_matrix(h.reshape(n, 1))
    return sp.bmat([[None, col.T], [col, J]], format="csr")


def spectral_radius(J: sp.csr_matrix) -> float:
    if J.shape[0] <= 64:
        return float(np.max(np.abs(np.linalg.eigvalsh(J.toarray())))) if J.nnz else 0.0
    from scipy.sparse.linalg import eigsh

    return float(
        abs(
            eigsh(
                J.astype(np.float64),
                k=1,
                which="LM",
                return_eigenvectors=False,
                v0=np.ones(J.shape[0]),
            )[0]
        )
    )


def default_c0(J: sp.csr_matrix) -> float:
    """Goto et al.'s 0.5 / (sqrt(N) * rms(J)), capped by 0.5 / spectral radius.

    The paper's rule assumes a random-matrix spectrum; graphs with same-sign weights (most of
    G-set) have one large eigenvalue (about the mean degree) that would make the symplectic
    Euler step unstable and push every agent to the all-equal state. The cap prevents that.
    """
    size = J.shape[0]
    rms = math.sqrt(float((J.data**2).sum()) / max(1, size * (size - 1)))
    if rms == 0:
        return 1.0
    return min(0.5 / (math.sqrt(size) * rms), 0.5 / max(spectral_radius(J), 1e-12))


class _Arrays:
    """Array-module adaptor: numpy on CPU, torch on any device."""

    def __init__(self, backend: str, device: str, J: sp.csr_matrix, dense: bool) -> None:
        self.backend = backend
        if backend == "numpy":
            self.xp = np
            self.J = J.toarray().astype(np.float32) if dense else J.astype(np.float32)
        else:
            import torch

            self.xp = torch
            self.device = torch.device(device)
            if dense:
                self.J = torch.as_tensor(J.toarray(), dtype=torch.float32, device=self.device)
                self.J64 = torch.as_tensor(J.toarray(), dtype=torch.float64, device=self.device)
            else:
                coo = J.tocsr()
                with warnings.catch_warnings():  # torch flags sparse CSR as beta on every use
                    warnings.simplefilter("ignore", UserWarning)
                    self.J = self._sparse(torch, coo, torch.float32)
                    self.J64 = self._sparse(torch, coo, torch.float64)

    def _sparse(self, torch, coo: sp.csr_matrix, dtype):
        return torch.sparse_csr_tensor(
            torch.as_tensor(coo.indptr, dtype=torch.int64),
            torch.as_tensor(coo.indices, dtype=torch.int64),
            torch.as_tensor(coo.data, dtype=dtype),
            size=coo.shape,
            check_invariants=True,  # scipy CSR is valid; checking once is cheap
        ).to(self.device)

    def energies(self, signs):
        """Per agent (column of ``signs``, +-1), ``0.5 s' J s'`` of the model whose negated
        couplings this holds, in float64 on the device (without the model's offset)."""
        s = signs.to(self.xp.float64)
        return -0.5 * (s * (self.J64 @ s)).sum(0)

    def from_numpy(self, array: np.ndarray):
        if self.backend == "numpy":
            return array.astype(np.float32)
        return self.xp.as_tensor(array, dtype=self.xp.float32, device=self.device)

    def from_index(self, index: np.ndarray):
        """Integer positions as an index of the torch arrays (the torch path's checks)."""
        return self.xp.as_tensor(index, dtype=self.xp.int64, device=self.device)

    def to_numpy(self, array) -> np.ndarray:
        if self.backend == "numpy":
            return np.asarray(array)
        return array.detach().cpu().numpy()


def check_torch_device(device: str) -> None:
    """``InvalidProblem`` unless torch reads ``device`` (skipped when torch is missing: the
    solver then says which extra to install)."""
    try:
        import torch
    except ImportError:
        return
    try:
        torch.device(device)
    except RuntimeError:
        raise InvalidProblem(
            f"device: {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'."
        ) from None


def torch_status(device: str) -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed; install the extra: pip install 'qcore[torch]'"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return f"device={device!r} was requested but torch sees no CUDA device"
    return None


class SimulatedBifurcationSolver(QcoreSampler):
    """Batched ballistic / discrete simulated bifurcation on CPU (numpy or torch) or CUDA."""

    name: ClassVar[str] = "sb"
    solver_parameters: ClassVar[dict[str, list]] = {
        "variant": [],
        "agents": [],
        "max_steps": [],
        "dt": [],
        "c0": [],
        "device": [],
        "backend": [],
        "check_every": [],
        "patience": [],
        "num_reads": [],
    }

    def _check(self, params: dict) -> dict:
        if "variant" in params:
            check_choice("variant", params["variant"], VARIANTS)
        for name in ("max_steps", "check_every", "patience"):
            if name in params:
                params[name] = check_positive_int(name, params[name])
        if "dt" in params:
            params["dt"] = check_real(
                "dt", params["dt"], low=0, high=2, low_open=True, hint=" (papers use 0.5 to 1.25)"
            )
        if params.get("c0") is not None:
            params["c0"] = check_real("c0", params["c0"], low=0, low_open=True)
        if "device" in params:
            check_str("device", params["device"], "'cpu', 'cuda' or 'cuda:N'")
        if params.get("backend") is not None:
            check_choice("backend", params["backend"], ("numpy", "torch"))
        agents = None
        if "agents" in params:
            agents = params["agents"] = check_positive_int("agents", params["agents"])
        if "num_reads" in params and params["num_reads"] is None:
            del params["num_reads"]  # None: every agent's best state
        if "num_reads" in params:
            reads = params["num_reads"] = check_positive_int("num_reads", params["num_reads"])
            if agents is not None and reads > agents:
                raise InvalidProblem(
                    f"num_reads: {reads} but agents={agents}; each read is one agent's best "
                    f"state, so ask for num_reads <= agents or raise agents to {reads}."
                )
            if agents is None:
                params["agents"] = max(DEFAULT_AGENTS, reads)  # one read per agent
        device = params.get("device", "cpu")
        backend = params.get("backend") or ("numpy" if device == "cpu" else "torch")
        if backend == "numpy" and device != "cpu":
            raise InvalidProblem(f"device: {device!r} needs backend='torch'.")
        if backend == "torch":
            check_torch_device(device)
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        variant: str = "ballistic",
        agents: int = DEFAULT_AGENTS,
        max_steps: int = 2000,
        dt: float = 1.25,
        c0: float | None = None,
        device: str = "cpu",
        backend: str | None = None,
        check_every: int = 50,
        patience: int = 5,
        num_reads: int | None = None,
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        if backend is None:
            backend = "numpy" if device == "cpu" else "torch"
        if backend == "torch" and (reason := torch_status(device)):
            raise SolverUnavailable(f"sb: {reason}", extra="torch")
        check_sample_memory("agents", agents, bqm.num_variables + 1, bytes_per_value=8)
        deadline = Deadline(time_limit)
        rng = make_rng(seed)

        arrays = ising_arrays(bqm)
        n = arrays.num_variables
        h_present = bool(np.any(arrays.h != 0))
        # SB minimises -0.5 s J_sb s; ours is +0.5 s J s, so J_sb = -J.
        coupling = -(augmented_couplings(arrays.h, arrays.J) if h_present else arrays.J)
        size = coupling.shape[0]
        density = coupling.nnz / max(1, size * size)
        ops = _Arrays(backend, device, coupling, dense=density > DENSE_ABOVE)
        xp = ops.xp
        if c0 is None:
            c0 = default_c0(coupling)

        x = ops.from_numpy(rng.uniform(-0.1, 0.1, (size, agents)))
        y = ops.from_numpy(rng.uniform(-0.1, 0.1, (size, agents)))
        best_energy = np.full(agents, np.inf)
        best_spins = np.ones((agents, n), dtype=np.int8)
        stable_checks, last_signs, steps_done = 0, None, 0
        a0 = 1.0
        discrete = variant == "discrete"
        for step in range(max_steps):
            pressure = a0 * (step + 1) / max_steps  # a(t) rises linearly to a0
            field = ops.J @ (xp.sign(x) if discrete else x)
            y = y + dt * (-(a0 - pressure) * x + c0 * field)
            x = x + dt * a0 * y
            walls = xp.abs(x) > 1.0
            x = xp.clip(x, -1.0, 1.0)
            y = xp.where(walls, xp.zeros_like(y), y)
            steps_done = step + 1
            last = steps_done == max_steps
            if steps_done % check_every and not last:
                continue
            if backend == "torch":
                # On the device: every agent's energy in float64 there, and only the agents
                # that improved come back to the host, so a check moves [agents] floats and a
                # few states, not the whole [size, agents] state (that copy and a host-side
                # energy pass dominated CUDA runs with many agents).
                device_signs = xp.where(x >= 0, 1.0, -1.0)
                energy = ops.to_numpy(ops.energies(device_signs)) + arrays.offset
                improved = np.flatnonzero(energy < best_energy)
                stable = last_signs is not None and bool(xp.equal(device_signs, last_signs))
                last_signs = device_signs
                if improved.size:
                    picked = device_signs[:, ops.from_index(improved)]
                    signs = ops.to_numpy(picked).T.astype(np.int8)
                    spins = signs[:, 1:] * signs[:, :1] if h_present else signs
                    best_energy[improved] = energy[improved]
                    best_spins[improved] = spins
            else:
                signs = ops.to_numpy(xp.sign(x)).T.astype(np.int8)  # [agents, size]
                signs[signs == 0] = 1
                spins = signs[:, 1:] * signs[:, :1] if h_present else signs
                energy = arrays.energies(spins)
                better = energy < best_energy
                best_energy[better] = energy[better]
                best_spins[better] = spins[better]
                stable = last_signs is not None and np.array_equal(signs, last_signs)
                last_signs = signs
            stable_checks = stable_checks + 1 if stable else 0
            if stable_checks >= patience or deadline.expired():
                break
        order = np.argsort(best_energy, kind="stable")
        if num_reads is not None:
            order = order[:num_reads]
        samples = spins_to_vartype(best_spins[order], bqm.vartype)
        sampleset = dimod.SampleSet.from_samples_bqm((samples, arrays.variables), bqm)
        sampleset.info.update(
            {
                "variant": variant,
                "backend": backend,
                "device": device,
                "steps": steps_done,
                "stopped_early": steps_done < max_steps,
                "c0": float(c0),
                "agents": agents,
            }
        )
        return sampleset
