"""Parallel tempering (replica-exchange Monte Carlo; Swendsen & Wang 1986, Hukushima & Nemoto
1996) for Ising models, compiled with numba.

``replicas`` copies of the system run Metropolis sweeps, one at each inverse temperature of a
geometric ladder; after every ``sweeps_per_swap`` sweeps, neighbouring temperatures try to
exchange configurations (even pairs, then odd pairs on the next round), accepted with
probability ``min(1, exp((beta_k - beta_k+1) (E_k - E_k+1)))``. Hot replicas cross barriers,
cold ones descend, exchanges carry good basins down. The lowest state ever visited is kept.

The ladder: the hot end accepts a *typical* uphill flip half the time (as ``auto``'s SA
schedule), the cold end is dwave-samplers' cold end (the smallest flip cost is accepted with
probability 1%). Work is counted in sweeps per replica (``num_sweeps``), so a run with a seed
and a sweep count is the same run to run, whatever the machine's load; ``time_limit`` only
stops it early (checked between rounds of ``sweeps_per_swap`` sweeps).

The kernel works on the CSR couplings (dense models too: their rows are just long), keeping
each replica's local fields up to date, so a sweep costs ``n`` plus ``degree`` per accepted
flip. ``backend="numpy"`` runs the same algorithm vectorised over replicas in numpy (no
compilation; about an order of magnitude slower: docs/benchmarks.md). numba compiles the kernel
once per machine (cached beside this file); the first call on a fresh install pays that
(a few seconds).
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

import dimod
import numpy as np

from qcore.errors import InvalidProblem
from qcore.solvers.base import (
    C_INT_MAX,
    Deadline,
    QcoreSampler,
    check_choice,
    check_positive_int,
    check_real_sequence,
    make_rng,
)
from qcore.validation import IsingArrays, ising_arrays, spins_to_vartype

BACKENDS = ("numba", "numpy")
DEFAULT_SWEEPS = 1000
CHUNK_WORK = 2_000_000  # spin updates between deadline checks (about a millisecond compiled)

_COMPILED: dict[str, object] = {}


def _kernel(name: str):
    """The numba-compiled kernel ``name``, compiled (or loaded from numba's cache) on first
    use, so importing qcore never imports numba."""
    if name not in _COMPILED:
        import numba

        _COMPILED[name] = numba.njit(cache=True, nogil=True)(globals()[name])
    return _COMPILED[name]


def warm_kernels() -> None:
    """Compile (or load) the kernels now, e.g. before forking workers that would each load
    them again."""
    if numba_available():
        _kernel("_seed_kernel")
        _kernel("_pt_rounds")


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency of qcore
        return False
    return True


def default_replicas(n: int) -> int:
    """Enough temperatures for exchanges to be accepted on extensive energies: ~ sqrt(n)."""
    return int(min(64, max(8, round(1.5 * math.sqrt(n)))))


def pt_beta_range(arrays: IsingArrays, seed: int = 0) -> tuple[float, float]:
    """``(hot, cold)``: hot accepts a typical uphill flip half the time; cold accepts the
    smallest flip 1% of the time (dwave-samplers' cold end), where a flip costs at least
    twice the smallest nonzero |bias| and, with continuous couplings (whose smallest value can
    be tiny), at least 5% of the typical flip."""
    n = arrays.num_variables
    rng = np.random.default_rng(seed)
    states = rng.choice([-1.0, 1.0], size=(8, n))
    costs = np.abs(2 * states * (states @ arrays.J + arrays.h)).ravel()
    costs = costs[costs > 1e-12]
    if costs.size == 0:
        return 0.1, 1.0
    typical = float(np.median(costs))
    weights = np.abs(np.concatenate([arrays.J.data, arrays.h]))
    smallest = max(2 * float(weights[weights > 1e-12].min()), 0.05 * typical)
    hot, cold = float(np.log(2) / typical), float(np.log(100) / smallest)
    return min(hot, cold / 10), cold


def _seed_kernel(seed):  # pragma: no cover - compiled
    np.random.seed(seed)


def _pt_rounds(
    indptr,
    indices,
    data,
    spins,
    fields,
    energies,
    betas,
    perm,
    rounds,
    sweeps_per_swap,
    parity0,
    best_state,
    best_energy,
    target,
    swaps,
):  # pragma: no cover - compiled
    """``rounds`` rounds of ``sweeps_per_swap`` sweeps per replica and one exchange pass.
    ``perm[k]``: the replica at temperature ``k``. Returns the rounds done (fewer when the
    best energy reaches ``target``)."""
    temps = betas.shape[0]
    n = spins.shape[1]
    for rnd in range(rounds):
        for k in range(temps):
            r = perm[k]
            beta = betas[k]
            for _ in range(sweeps_per_swap):
                for i in range(n):
                    de = -2.0 * spins[r, i] * fields[r, i]
                    if de <= 0.0 or np.random.random() < math.exp(-beta * de):
                        s = -spins[r, i]
                        spins[r, i] = s
                        energies[r] += de
                        for p in range(indptr[i], indptr[i + 1]):
                            fields[r, indices[p]] += 2.0 * s * data[p]
                if energies[r] < best_energy[0] - 1e-12:
                    best_energy[0] = energies[r]
                    best_state[:] = spins[r]
        start = (parity0 + rnd) % 2
        for k in range(start, temps - 1, 2):
            a = perm[k]
            b = perm[k + 1]
            delta = (betas[k] - betas[k + 1]) * (energies[a] - energies[b])
            if delta >= 0.0 or np.random.random() < math.exp(delta):
                perm[k] = b
                perm[k + 1] = a
                swaps[k] += 1
        if best_energy[0] <= target:
            return rnd + 1
    return rounds


def _pt_rounds_numpy(
    J, h, spins, fields, energies, betas, perm, rounds, sweeps_per_swap, parity0, best, rng, target
):
    """The same rounds vectorised over replicas (numpy): one Python step per spin."""
    temps, n = spins.shape
    dense = J.toarray()
    beta_of = np.empty(temps)
    for rnd in range(rounds):
        beta_of[perm] = betas
        for _ in range(sweeps_per_swap):
            for i in range(n):
                de = -2.0 * spins[:, i] * fields[:, i]
                flip = (de <= 0) | (rng.random(temps) < np.exp(-beta_of * np.maximum(de, 0)))
                if flip.any():
                    spins[flip, i] *= -1
                    energies[flip] += de[flip]
                    fields[flip] += 2.0 * spins[flip, i, None] * dense[i]
            low = int(np.argmin(energies))
            if energies[low] < best[0] - 1e-12:
                best[0] = float(energies[low])
                best[1] = spins[low].copy()
        for k in range((parity0 + rnd) % 2, temps - 1, 2):
            a, b = perm[k], perm[k + 1]
            delta = (betas[k] - betas[k + 1]) * (energies[a] - energies[b])
            if delta >= 0 or rng.random() < math.exp(delta):
                perm[k], perm[k + 1] = b, a
        if best[0] <= target:
            return rnd + 1
    return rounds


def parallel_tempering(
    arrays: IsingArrays,
    *,
    num_sweeps: int,
    replicas: int,
    sweeps_per_swap: int,
    beta_range: tuple[float, float],
    seed: int,
    deadline: Deadline,
    backend: str = "numba",
    target: float = -math.inf,
) -> dict:
    """Run PT on ``arrays`` for ``num_sweeps`` sweeps per replica (fewer if ``deadline``
    expires or the energy reaches ``target``, energies without the offset). Returns the best
    state, its energy (with the offset), the final replica states and counters."""
    n = arrays.num_variables
    rng = np.random.default_rng(seed)
    hot, cold = beta_range
    betas = np.geomspace(hot, cold, replicas) if replicas > 1 else np.array([cold])
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(replicas, n))
    J = arrays.J.tocsr()
    fields = np.ascontiguousarray((J @ spins.T.astype(np.float64)).T + arrays.h)
    energies = spins @ arrays.h + 0.5 * np.einsum("ri,ri->r", fields - arrays.h, spins)
    energies = np.ascontiguousarray(energies, dtype=np.float64)
    perm = np.arange(replicas, dtype=np.int64)
    low = int(np.argmin(energies))
    best_state, best_energy = spins[low].copy(), np.array([energies[low]])
    swaps = np.zeros(max(1, replicas - 1), dtype=np.int64)
    total_rounds = max(1, math.ceil(num_sweeps / sweeps_per_swap))
    per_round = max(1, replicas * sweeps_per_swap * max(n, 1))
    # numpy: one round between deadline checks (it runs ~100x fewer spin updates a second)
    chunk = max(1, CHUNK_WORK // per_round) if backend == "numba" else 1
    done, trace, cpu_trace, cpu0 = 0, [], [], time.process_time()
    if backend == "numba":
        _kernel("_seed_kernel")(int(rng.integers(C_INT_MAX)))
        rounds_kernel = _kernel("_pt_rounds")
        indptr = J.indptr.astype(np.int64)
        indices = J.indices.astype(np.int64)
        data = J.data.astype(np.float64)
    else:
        best = [float(best_energy[0]), best_state]
    while done < total_rounds:
        todo = min(chunk, total_rounds - done)
        if backend == "numba":
            ran = rounds_kernel(
                indptr, indices, data, spins, fields, energies, betas, perm, todo,
                sweeps_per_swap, done % 2, best_state, best_energy, target, swaps,
            )  # fmt: skip
        else:
            ran = _pt_rounds_numpy(
                J, arrays.h, spins, fields, energies, betas, perm, todo, sweeps_per_swap,
                done % 2, best, rng, target,
            )  # fmt: skip
            best_energy[0], best_state = best[0], best[1]
        done += ran
        energy = float(best_energy[0]) + arrays.offset
        if not trace or energy < trace[-1][1]:
            trace.append((deadline.elapsed(), energy))
            cpu_trace.append((time.process_time() - cpu0, energy))
        if ran < todo or deadline.expired():
            break
    return {
        "best_state": best_state.copy(),
        "best_energy": float(best_energy[0]) + arrays.offset,
        "states": spins[perm[::-1]].copy(),  # coldest first
        "sweeps": done * sweeps_per_swap,
        "betas": betas,
        "swap_rate": (swaps / max(1, done / 2)).tolist(),
        "trace": trace,
        "cpu_trace": cpu_trace,
    }


class ParallelTemperingSolver(QcoreSampler):
    """Replica-exchange Monte Carlo: ``replicas`` temperatures, ``num_sweeps`` sweeps each."""

    name: ClassVar[str] = "pt"
    solver_parameters: ClassVar[dict[str, list]] = {
        "num_sweeps": [],
        "replicas": [],
        "sweeps_per_swap": [],
        "beta_range": [],
        "num_reads": [],
        "backend": [],
    }

    def _check(self, params: dict) -> dict:
        for name, top in (
            ("num_sweeps", C_INT_MAX),
            ("replicas", 1024),
            ("sweeps_per_swap", 10**6),
        ):
            if params.get(name) is not None:
                params[name] = check_positive_int(name, params[name], maximum=top)
            else:
                params.pop(name, None)
        if params.get("num_reads") is not None:
            params["num_reads"] = check_positive_int("num_reads", params["num_reads"], maximum=1025)
        else:
            params.pop("num_reads", None)
        if params.get("beta_range") is not None:
            betas = check_real_sequence("beta_range", params["beta_range"], 2)
            if not 0 < betas[0] <= betas[1]:
                raise InvalidProblem(
                    f"beta_range: {params['beta_range']!r}; pass [hot, cold] inverse "
                    "temperatures with 0 < hot <= cold, e.g. [0.1, 10]."
                )
            params["beta_range"] = tuple(betas)
        else:
            params.pop("beta_range", None)
        if "backend" in params:
            check_choice("backend", params["backend"], BACKENDS)
        reads, replicas = params.get("num_reads"), params.get("replicas")
        if reads is not None and replicas is not None and reads > replicas + 1:
            raise InvalidProblem(
                f"num_reads: {reads} but replicas={replicas}; the reads are the best state "
                f"and the final replica states, so ask for at most {replicas + 1}."
            )
        return params

    def _sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        num_sweeps: int | None = None,
        replicas: int | None = None,
        sweeps_per_swap: int = 1,
        beta_range: tuple[float, float] | None = None,
        num_reads: int = 1,
        backend: str = "numba",
        seed: int | None = None,
        time_limit: float | None = None,
    ) -> dimod.SampleSet:
        if backend == "numba" and not numba_available():  # pragma: no cover
            backend = "numpy"
        deadline = Deadline(time_limit)
        rng = make_rng(seed)
        arrays = ising_arrays(bqm)
        if replicas is None:
            replicas = default_replicas(arrays.num_variables)
        if num_sweeps is None:
            # with a time limit and no sweep count: sweep until the limit
            num_sweeps = C_INT_MAX if time_limit is not None else DEFAULT_SWEEPS
        if beta_range is None:
            beta_range = pt_beta_range(arrays, seed=int(rng.integers(C_INT_MAX)))
        out = parallel_tempering(
            arrays,
            num_sweeps=num_sweeps,
            replicas=replicas,
            sweeps_per_swap=sweeps_per_swap,
            beta_range=beta_range,
            seed=int(rng.integers(C_INT_MAX)),
            deadline=deadline,
            backend=backend,
        )
        spins = np.vstack([out["best_state"][None, :], out["states"]])[:num_reads]
        samples = spins_to_vartype(spins, bqm.vartype)
        ss = dimod.SampleSet.from_samples_bqm((samples, arrays.variables), bqm)
        ss.info.update(
            {
                "sweeps": out["sweeps"],
                "replicas": replicas,
                "beta_range": [float(b) for b in beta_range],
                "swap_rate": out["swap_rate"],
                "backend": backend,
                "trace": [[t, e] for t, e in out["trace"]],
            }
        )
        return ss
