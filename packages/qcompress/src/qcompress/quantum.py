"""A quantum autoencoder (Romero, Olson & Aspuru-Guzik 2017), simulated with PennyLane, beside
classical PCA of the same latent size. Extra ``quantum``.

A block of ``2**n`` values is amplitude-encoded on ``n <= 8`` qubits (its norm is kept
classically). A trained circuit U (StronglyEntanglingLayers) should rotate every block so that
the last ``n - latent`` qubits ("trash") end in |0>; the latent qubits then hold the block.
Training maximises the probability of trash = |0...0>. Reconstruction resets the trash qubits to
|0> and applies U^dagger; its fidelity with the input block is what we report.

Uncentred PCA keeping ``2**latent`` directions is the classical counterpart: projecting the
normalised block on the top singular subspace of the training blocks. Its fidelity
``||P psi||^2`` bounds what any such encoder that resets the trash can achieve on average for
the training set, so the quantum circuit is at best equal to it; this module measures by how
much it falls short. Everything here is a classical state-vector simulation: no quantum
hardware is involved and no compression-ratio claim is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qcompress.errors import InvalidSettings, MissingExtra

__all__ = ["QuantumAutoencoder", "as_blocks", "pca_fidelity"]

EXTRA = "pip install 'qcompress[quantum]'"
MAX_QUBITS = 8


def _pennylane() -> Any:
    try:
        import pennylane as qml
    except ImportError as exc:
        raise MissingExtra(f"quantum autoencoder: needs PennyLane; {EXTRA}") from exc
    return qml


def as_blocks(values: np.ndarray, qubits: int) -> np.ndarray:
    """Rows of ``2**qubits`` values (the tail dropped), each normalised to unit length.

    All-zero blocks are dropped too: they have no quantum state.
    """
    size = 1 << qubits
    flat = np.asarray(values, dtype=np.float64).ravel()
    blocks = flat[: flat.size // size * size].reshape(-1, size)
    norms = np.linalg.norm(blocks, axis=1)
    keep = norms > 0
    return blocks[keep] / norms[keep, None]


def pca_fidelity(train: np.ndarray, test: np.ndarray, latent_dim: int) -> float:
    """Mean ``||P psi||^2`` over ``test`` with P the top-``latent_dim`` right singular space of
    ``train`` (both unit-norm rows)."""
    _, _, vt = np.linalg.svd(train, full_matrices=False)
    basis = vt[:latent_dim]
    return float(((test @ basis.T) ** 2).sum(axis=1).mean())


@dataclass
class QuantumAutoencoder:
    qubits: int = 4
    latent: int = 2
    layers: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.qubits, int) or not 2 <= self.qubits <= MAX_QUBITS:
            raise InvalidSettings(
                f"qubits: must be an integer in 2..{MAX_QUBITS}, got {self.qubits!r}"
            )
        if not isinstance(self.latent, int) or not 1 <= self.latent < self.qubits:
            raise InvalidSettings(
                f"latent: must be an integer in 1..{self.qubits - 1}, got {self.latent!r}"
            )
        if not isinstance(self.layers, int) or self.layers < 1:
            raise InvalidSettings(f"layers: must be a positive integer, got {self.layers!r}")
        import torch

        qml = _pennylane()
        gen = torch.Generator().manual_seed(self.seed)
        shape = qml.StronglyEntanglingLayers.shape(n_layers=self.layers, n_wires=self.qubits)
        self.weights = (
            torch.rand(shape, generator=gen, dtype=torch.float64) * 2 * np.pi
        ).requires_grad_()
        wires = list(range(self.qubits))
        trash = wires[self.latent :]
        dev = qml.device("default.qubit", wires=self.qubits)

        @qml.qnode(dev, interface="torch", diff_method="backprop")
        def trash_probs(blocks: Any, weights: Any) -> Any:
            qml.StatePrep(blocks, wires=wires)
            qml.StronglyEntanglingLayers(weights, wires=wires)
            return qml.probs(wires=trash)

        @qml.qnode(dev, interface="torch", diff_method="backprop")
        def encoded(blocks: Any, weights: Any) -> Any:
            qml.StatePrep(blocks, wires=wires)
            qml.StronglyEntanglingLayers(weights, wires=wires)
            return qml.state()

        self._trash_probs = trash_probs
        self._encoded = encoded
        self._unitary = qml.matrix(
            lambda w: qml.StronglyEntanglingLayers(w, wires=wires), wire_order=wires
        )

    def fit(self, blocks: np.ndarray, steps: int = 150, lr: float = 0.1) -> list[float]:
        """Adam on 1 - mean P(trash = |0...0>); returns the loss per step."""
        import torch

        data = torch.tensor(self._check(blocks))
        opt = torch.optim.Adam([self.weights], lr=lr)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = 1 - self._trash_probs(data, self.weights)[..., 0].mean()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    def fidelity(self, blocks: np.ndarray) -> float:
        """Mean fidelity <psi| U^dag (rho_latent (x) |0><0|) U |psi> after resetting the trash."""
        import torch

        data = self._check(blocks)
        with torch.no_grad():
            phi = np.asarray(self._encoded(torch.tensor(data), self.weights), dtype=np.complex128)
            u = np.asarray(self._unitary(self.weights.detach()), dtype=np.complex128)
        phi = phi.reshape(len(data), 1 << self.latent, 1 << (self.qubits - self.latent))
        # reset the trash: the latent reduced state, tensored with |0><0| on the trash
        rho_latent = np.einsum("bit,bjt->bij", phi, phi.conj())
        dim = 1 << self.qubits
        rho = np.zeros((len(data), dim, dim), dtype=np.complex128)
        zero = np.arange(1 << self.latent) * (1 << (self.qubits - self.latent))
        rho[:, zero[:, None], zero[None, :]] = rho_latent
        back = np.einsum("ij,bjk,kl->bil", u.conj().T, rho, u)
        psi = data.astype(np.complex128)
        return float(np.real(np.einsum("bi,bij,bj->b", psi.conj(), back, psi)).mean())

    def _check(self, blocks: np.ndarray) -> np.ndarray:
        data = np.asarray(blocks, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != 1 << self.qubits:
            raise InvalidSettings(
                f"blocks: expected rows of {1 << self.qubits} values (use as_blocks), "
                f"got shape {data.shape}"
            )
        if not np.allclose(np.linalg.norm(data, axis=1), 1.0, atol=1e-6):
            raise InvalidSettings("blocks: every row must have unit norm (use as_blocks)")
        return data
