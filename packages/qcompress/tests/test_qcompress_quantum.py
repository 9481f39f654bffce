"""The quantum autoencoder against PCA: the simulation is checked against exact cases."""

from __future__ import annotations

import numpy as np
import pytest

from qcompress import InvalidSettings
from qcompress.quantum import QuantumAutoencoder, as_blocks, pca_fidelity

# PennyLane's import and first torch-interface call take 30-60 s on the shared 2-core machine,
# so the circuit simulations run with -m slow; the checks before PennyLane loads run always.


def test_blocks_are_unit_rows_without_zero_blocks() -> None:
    b = as_blocks(np.concatenate([np.zeros(4), np.arange(1.0, 10.0)]), 2)
    assert b.shape == (2, 4)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0)


def test_pca_fidelity_is_one_inside_the_subspace() -> None:
    rng = np.random.default_rng(0)
    data = np.zeros((20, 8))
    data[:, :2] = rng.standard_normal((20, 2))
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    assert pca_fidelity(data, data, 2) == pytest.approx(1.0)
    assert pca_fidelity(data, data, 1) < 1.0


@pytest.mark.slow
def test_fidelity_is_at_least_the_squared_trash_probability() -> None:
    pytest.importorskip("pennylane")
    # after resetting the trash, F = sum_t |<a_0|a_t>|^2 >= p0^2 per block, so on average
    # F >= mean(p0^2) >= mean(p0)^2 = (1 - loss)^2
    rng = np.random.default_rng(2)
    data = as_blocks(rng.standard_normal(8 * 6), 3)
    qae = QuantumAutoencoder(qubits=3, latent=2, layers=1, seed=3)
    loss = qae.fit(data, steps=1, lr=0.0)[0]
    fidelity = qae.fidelity(data)
    assert (1 - loss) ** 2 - 1e-9 <= fidelity <= 1 + 1e-9


@pytest.mark.slow
def test_states_already_in_the_latent_space_train_to_high_fidelity() -> None:
    pytest.importorskip("pennylane")
    # blocks whose trash qubit is already |0>: the ideal encoder is the identity
    rng = np.random.default_rng(1)
    data = np.zeros((16, 4))
    data[:, [0, 2]] = rng.standard_normal((16, 2))  # wire 1 (the trash qubit) is |0>
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    qae = QuantumAutoencoder(qubits=2, latent=1, layers=2, seed=0)
    losses = qae.fit(data, steps=60, lr=0.1)
    assert losses[-1] < losses[0]
    assert qae.fidelity(data) > 0.9
    assert qae.fidelity(data) <= 1.0 + 1e-9


def test_bad_settings() -> None:
    with pytest.raises(InvalidSettings, match="qubits"):
        QuantumAutoencoder(qubits=9)
    with pytest.raises(InvalidSettings, match="latent"):
        QuantumAutoencoder(qubits=3, latent=3)


@pytest.mark.slow
def test_blocks_must_be_unit_rows() -> None:
    pytest.importorskip("pennylane")
    with pytest.raises(InvalidSettings, match="unit norm"):
        QuantumAutoencoder(qubits=2, latent=1).fidelity(np.ones((2, 4)))
