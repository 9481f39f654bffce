"""``vqc``: a quantum-circuit Born machine over a discretised space (extra ``quantum``).

Each parameter is discretised to ``2^b`` levels (categoricals: enough bits for their
choices) and every level is a bitstring on ``b`` qubits. A hardware-efficient circuit (RY
rotations and a CNOT ring, PennyLane ``default.qubit``, simulated) defines a distribution
``p_theta(bitstring) = |<bitstring|U(theta)|0>|^2`` over the whole grid. After each batch of
results the circuit is trained towards the good trials: the loss is the cross-entropy
``-sum_i w_i log p_theta(b_i)`` with weights ``w_i`` that decay with the rank of trial i
(a generator-enhanced optimiser, Alcazar et al. 2021), and its gradient comes from the
parameter-shift rule (two circuit runs per angle, what a quantum device would do). New
points are sampled from the trained distribution, with uniform jitter inside the level and a
little uniform exploration.

Why not VQE: VQE minimises ``<psi|H|psi>`` for a Hamiltonian H that must be written down in
advance. A training run's loss is a black box known only at the points already evaluated, so
VQE would first need a surrogate turned into a Hamiltonian (a QUBO fitted to the trials), and
would then find the minimum of that surrogate, not of the objective. The Born machine learns
from the evaluated points themselves and yields a distribution to sample batches from, which
is what a hyperparameter search needs. This is simulated on a CPU; it does not beat the GP.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qhpo.errors import InvalidTrial, MissingExtra
from qhpo.optimizers.base import History, Optimizer
from qhpo.optimizers.sobol import sobol_points
from qhpo.space import Categorical, Space

__all__ = ["VQCOptimizer"]


def _pennylane() -> Any:
    try:
        import pennylane as qml
    except ImportError as exc:
        raise MissingExtra(
            f"the vqc optimiser needs PennyLane: pip install 'qhpo[quantum]' ({exc})"
        ) from exc
    return qml


class VQCOptimizer(Optimizer):
    name = "vqc"

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        *,
        max_qubits: int = 12,
        layers: int = 2,
        steps: int = 3,
        learning_rate: float = 0.2,
        temperature: float = 5.0,
        explore: float = 0.1,
        n_startup: int = 8,
    ) -> None:
        super().__init__(space, seed)
        qml = _pennylane()
        bits = []
        for p in space.params:
            if isinstance(p, Categorical):
                bits.append(max(1, math.ceil(math.log2(len(p.choices)))))
            else:
                bits.append(0)
        fixed = sum(bits)
        numeric = sum(1 for b in bits if b == 0)
        if fixed + numeric > max_qubits:
            raise InvalidTrial(
                f"max_qubits: the space needs at least {fixed + numeric} qubits "
                f"(one per numeric parameter, log2 of each categorical); raise max_qubits"
            )
        per_numeric = max(1, min(4, (max_qubits - fixed) // numeric)) if numeric else 0
        self.bits = [b if b else per_numeric for b in bits]
        self.n_qubits = sum(self.bits)
        self.layers, self.steps, self.lr = layers, steps, learning_rate
        self.temperature, self.explore, self.n_startup = temperature, explore, n_startup
        self.theta = self.rng.normal(scale=0.1, size=(layers + 1, self.n_qubits))
        dev = qml.device("default.qubit", wires=self.n_qubits)
        n = self.n_qubits

        @qml.qnode(dev, diff_method="parameter-shift", interface="autograd")
        def circuit(theta: Any) -> Any:
            for layer in range(layers):
                for w in range(n):
                    qml.RY(theta[layer, w], wires=w)
                for w in range(n if n > 2 else n - 1):
                    qml.CNOT(wires=[w, (w + 1) % n])
            for w in range(n):
                qml.RY(theta[layers, w], wires=w)
            return qml.probs(wires=range(n))

        self._circuit = circuit
        self._qml = qml

    # --- grid <-> bitstrings ----------------------------------------------------------------
    def _index(self, config: dict[str, Any]) -> int:
        flat = self.space.to_flat(config)
        index = 0
        for p, u, b in zip(self.space.params, flat, self.bits, strict=True):
            levels = 2**b
            if isinstance(p, Categorical) and p.name in config:
                level = p.index(config[p.name])
            else:
                level = min(int(u * levels), levels - 1)
            index = (index << b) | level
        return index

    def _config(self, index: int) -> dict[str, Any]:
        u = []
        shift = self.n_qubits
        for p, b in zip(self.space.params, self.bits, strict=True):
            shift -= b
            level = (index >> shift) & (2**b - 1)
            if isinstance(p, Categorical):
                k = len(p.choices)
                level = level % k  # codes beyond the choices fold back onto them
                u.append((level + 0.5) / k)
            else:
                u.append((level + self.rng.random()) / 2**b)
        return self.space.from_flat(u)

    # --- training ---------------------------------------------------------------------------
    def _train(self, indices: np.ndarray, weights: np.ndarray) -> None:
        pnp = self._qml.numpy

        def cost(theta: Any) -> Any:
            probs = self._circuit(theta)
            return -pnp.sum(weights * pnp.log(probs[indices] + 1e-9))

        grad_fn = self._qml.grad(cost)
        theta = pnp.array(self.theta, requires_grad=True)
        for _ in range(self.steps):
            theta = theta - self.lr * grad_fn(theta)
        self.theta = np.asarray(theta)

    def suggest(self, history: History, n: int = 1) -> list[dict[str, Any]]:
        if len(history.observed) < self.n_startup:
            points = sobol_points(len(self.space), history.n_total, n, self.seed)
            return [self.space.from_flat(u) for u in points]
        values = np.asarray(history.values, dtype=float)
        ranks = np.argsort(np.argsort(values)) / max(len(values) - 1, 1)
        weights = np.exp(-self.temperature * ranks)
        weights /= weights.sum()
        indices = np.array([self._index(c) for c in history.observed])
        self._train(indices, weights)
        probs = np.asarray(self._circuit(self.theta), dtype=float)
        probs = np.clip(probs, 0.0, None)
        probs /= probs.sum()
        out = []
        for _ in range(n):
            if self.rng.random() < self.explore:
                out.append(self.space.sample(self.rng, 1)[0])
            else:
                out.append(self._config(int(self.rng.choice(len(probs), p=probs))))
        return out
