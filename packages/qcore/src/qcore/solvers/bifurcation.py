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
from qcore.solvers.base import Deadline, QcoreSampler, check_positive_int, make_rng
from qcore.validation import ising_arrays, spins_to_vartype

VARIANTS = ("ballistic", "discrete")
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
            else:
                coo = J.tocsr()
                with warnings.catch_warnings():  # torch flags sparse CSR as beta on every use
                    warnings.simplefilter("ignore", UserWarning)
                    self.J = self._sparse(torch, coo)

    def _sparse(self, torch, coo: sp.csr_matrix):
        return torch.sparse_csr_tensor(
            torch.as_tensor(coo.indptr, dtype=torch.int64),
            torch.as_tensor(coo.indices, dtype=torch.int64),
            torch.as_tensor(coo.data, dtype=torch.float32),
            size=coo.shape,
            check_invariants=True,  # scipy CSR is valid; checking once is cheap
        ).to(self.device)

    def from_numpy(self, array: np.ndarray):
        if self.backend == "numpy":
            return array.astype(np.float32)
        return self.xp.as_tensor(array, dtype=self.xp.float32, device=self.device)

    def to_numpy(self, array) -> np.ndarray:
        if self.backend == "numpy":
            return np.asarray(array)
        return array.detach().cpu().numpy()


def torch_status(device: str) -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed; install the extra: pip install 'qcore[torch]'"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "device='cuda' was requested but torch sees no CUDA device"
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

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        variant: str = "ballistic",
        agents: int = 128,
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
        if variant not in VARIANTS:
            raise InvalidProblem(f"variant: {variant!r}; choose one of {VARIANTS}.")
        agents = check_positive_int("agents", agents)
        max_steps = check_positive_int("max_steps", max_steps)
        check_every = check_positive_int("check_every", check_every)
        patience = check_positive_int("patience", patience)
        if not (isinstance(dt, int | float) and 0 < dt <= 2):
            raise InvalidProblem(f"dt: {dt!r}; it must be in (0, 2] (papers use 0.5 to 1.25).")
        if backend is None:
            backend = "numpy" if device == "cpu" else "torch"
        if backend not in ("numpy", "torch"):
            raise InvalidProblem(f"backend: {backend!r}; choose 'numpy' or 'torch'.")
        if backend == "numpy" and device != "cpu":
            raise InvalidProblem(f"device: {device!r} needs backend='torch'.")
        if backend == "torch" and (reason := torch_status(device)):
            raise SolverUnavailable(f"sb: {reason}", extra="torch")
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
            signs = ops.to_numpy(xp.sign(x)).T.astype(np.int8)  # [agents, size]
            signs[signs == 0] = 1
            spins = signs[:, 1:] * signs[:, :1] if h_present else signs
            energy = arrays.energies(spins)
            better = energy < best_energy
            best_energy[better] = energy[better]
            best_spins[better] = spins[better]
            if last_signs is not None and np.array_equal(signs, last_signs):
                stable_checks += 1
            else:
                stable_checks = 0
            last_signs = signs
            if stable_checks >= patience or deadline.expired():
                break
        order = np.argsort(best_energy, kind="stable")
        if num_reads is not None:
            order = order[: check_positive_int("num_reads", num_reads)]
        samples = spins_to_vartype(best_spins[order], bqm.vartype)
        sampleset = dimod.SampleSet.from_samples_bqm((samples, arrays.variables), bqm)
        sampleset.info.update(
            {
                "variant": variant,
                "backend": backend,
                "device": device,
                "steps": steps_done,
                "stopped_early": steps_done < max_steps,
                "c0": c0,
            }
        )
        return sampleset
