"""``gp``: Bayesian optimisation with our Gaussian process and log-EI.

Per suggestion: warp and standardise the values, refit the GP hyperparameters (warm-started:
a few quasi-Newton steps from the previous fit), score a pool of random and local candidates
by log-EI, refine the best of them, an EI-weighted draw of others and the best trial with
L-BFGS-B in lengthscale-scaled coordinates (analytic gradients), try every single
categorical change of the winner, snap to the space.
Batches and pending trials (other workers): ``batch="liar"`` (default) is the constant liar,
each chosen point enters the model at the best value seen so far (CL-min, Ginsbourger et al.
2010), so the next point of the batch goes elsewhere; ``batch="qei"`` averages log-EI over
fantasies of the pending values (greedy Monte-Carlo q-EI, :mod:`qhpo.gp.fantasy`).
Failed trials (NaN/inf) enter the model at the worst value seen, so the search steers away
from them instead of asking for them again.
Faces of the box: when the best trial lies on one and the acquisition asks for its neighbour
on the same face, the slope into the box there is measured first (one trial a step inside,
unless one is there already): a stationary GP extrapolates the trend of trials a lengthscale
away to the face and cannot see a minimum just inside it (:meth:`GPOptimizer._boundary_probe`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qhpo.errors import InvalidTrial
from qhpo.gp.acquisition import LogEI, optimize_acquisition
from qhpo.gp.fantasy import FantasyLogEI
from qhpo.gp.model import GaussianProcess
from qhpo.gp.warping import OutputWarp
from qhpo.optimizers.base import History, Optimizer
from qhpo.optimizers.sobol import sobol_points
from qhpo.space import Categorical, Float, Int, Space

__all__ = ["BATCH_MODES", "GPOptimizer"]

# how pending trials and the points of a batch enter the acquisition
BATCH_MODES = ("liar", "qei")
# a feature within this of 0 or 1 lies on a face of the box
_ON_FACE = 1e-9


class GPOptimizer(Optimizer):
    name = "gp"

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        *,
        n_startup: int | None = None,
        n_candidates: int = 512,
        n_local: int = 512,
        n_starts: int = 10,
        acq_maxiter: int = 30,
        warp_output: bool = True,
        min_distance: float = 1e-4,
        probe_step: float = 0.02,
        batch: str = "liar",
        n_fantasies: int = 64,
    ) -> None:
        super().__init__(space, seed)
        counts = {"n_candidates": (n_candidates, 1), "n_local": (n_local, 0)}
        counts |= {"n_starts": (n_starts, 1), "acq_maxiter": (acq_maxiter, 1)}
        counts |= {"n_fantasies": (n_fantasies, 2)}
        for field, (value, low) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidTrial(f"{field}: expected an integer >= {low}, got {value!r}")
        if batch not in BATCH_MODES:
            raise InvalidTrial(f"batch: {batch!r} is not one of {list(BATCH_MODES)}")
        self.batch = batch
        self.n_fantasies = n_fantasies
        # a small space-filling design: enough points to see every dimension once
        self.n_startup = n_startup if n_startup is not None else min(10, max(4, len(space) + 1))
        self.n_candidates = n_candidates
        self.n_local = n_local
        self.n_starts = n_starts
        self.acq_maxiter = acq_maxiter
        self.warp_output = warp_output
        self.min_distance = min_distance
        if isinstance(probe_step, bool) or not isinstance(probe_step, int | float):
            raise InvalidTrial(f"probe_step: expected a number in [0, 0.5), got {probe_step!r}")
        if not 0.0 <= probe_step < 0.5:
            raise InvalidTrial(f"probe_step: expected a number in [0, 0.5), got {probe_step!r}")
        self.probe_step = float(probe_step)
        self.gp = GaussianProcess(space.n_features)
        self._sobol_seed = seed if seed is not None else int(self.rng.integers(2**32))
        self._free = np.zeros(space.n_features, dtype=bool)
        for p in space.params:
            if isinstance(p, Float | Int):
                self._free[space.feature_slice(p.name)] = True
        self._plain = all(isinstance(p, Float) and p.condition is None for p in space.params)

    # --- helpers ----------------------------------------------------------------------------
    def _snap(self, f: np.ndarray) -> np.ndarray:
        if self._plain:
            return np.clip(f, 0.0, 1.0)
        return self.space.features(self.space.from_features(f))

    def _candidates(self, x_obs: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = self.n_candidates
        m = self.n_local
        if self._plain:
            rand = self.rng.random((n, self.space.n_features))
        else:
            rand = self.space.features_many(self.space.sample(self.rng, n))
        # local candidates around the best few trials, at the model's own scale
        top = x_obs[np.argsort(y)[: min(5, len(y))]]
        scale = np.minimum(self.gp.lengthscales, 0.5) * 0.5
        local = top[self.rng.integers(len(top), size=m)] + self.rng.normal(
            size=(m, self.space.n_features)
        ) * scale * self.rng.choice([0.05, 0.2, 1.0], size=(m, 1))
        local = np.clip(local, 0.0, 1.0)
        if not self._plain:
            local = np.stack([self._snap(p) for p in local])
        return np.vstack([rand, local])

    def _boundary_probe(self, p: np.ndarray, best: np.ndarray, known: np.ndarray) -> np.ndarray:
        """``p`` moved a step into the box where it would leave the slope there unmeasured.

        When the best trial lies on a face of the box and the acquisition asks for another
        point on that face beside it, the model has concluded that the objective still falls
        towards the face. A stationary GP draws that conclusion from trials a lengthscale
        inside and cannot see a minimum just inside the face; on Branin, seeds spent 30
        trials along x0 = 10 next to the minimum at x0 = 9.42. A box-constrained minimum on
        the face has a slope pointing out of the box there, so before refining along the face,
        measure it: if no trial lies within ``2 * probe_step`` inside the face near the best
        one, ask for ``p`` moved ``probe_step`` inwards instead (one trial per face and spot;
        the answer then enters the model like any other).
        """
        step = self.probe_step
        if step <= 0 or np.abs(p - best).max() > 2.0 * step:
            return p
        for d in np.flatnonzero(self._free):
            # on a face up to the rounding of a value converted to the space and back
            face = 0.0 if best[d] <= _ON_FACE else 1.0 if best[d] >= 1.0 - _ON_FACE else None
            if face is None or abs(p[d] - face) > _ON_FACE:
                continue
            inward = 1.0 if face == 0.0 else -1.0
            near = np.abs(np.delete(known - best, d, axis=1)).max(axis=1) <= 2.0 * step
            depth = inward * (known[:, d] - face)
            if np.any(near & (depth > _ON_FACE) & (depth <= 2.0 * step)):
                continue
            q = p.copy()
            q[d] = face + inward * step
            q = self._snap(q)  # an integer may round back onto the face or onto a trial
            if np.min(np.abs(known - q).max(axis=1)) > self.min_distance and not np.array_equal(
                q, p
            ):
                return q
        return p

    def _categorical_moves(self, x: np.ndarray, acq: LogEI | FantasyLogEI) -> np.ndarray:
        cands = [x]
        for p in self.space.params:
            if isinstance(p, Categorical):
                s = self.space.feature_slice(p.name)
                if x[s].sum() == 0:  # inactive
                    continue
                for j in range(p.width):
                    y = x.copy()
                    y[s] = 0.0
                    y[s.start + j] = 1.0
                    cands.append(self._snap(y))
        if len(cands) == 1:
            return x
        cands_a = np.stack(cands)
        return cands_a[int(np.argmax(acq(cands_a)))]

    # --- the optimiser ----------------------------------------------------------------------
    def suggest(self, history: History, n: int = 1) -> list[dict[str, Any]]:
        n_obs = len(history.observed)
        if n_obs < self.n_startup or n_obs < 2 or np.ptp(history.values) == 0:
            points = sobol_points(len(self.space), history.n_total, n, self._sobol_seed)
            return [self.space.from_flat(u) for u in points]
        x = self.space.features_many(history.observed)
        y = np.asarray(history.values, dtype=float)
        warp = OutputWarp(self.warp_output)
        yw = warp.fit_transform(y)
        if history.failed:
            x = np.vstack([x, self.space.features_many(history.failed)])
            yw = np.concatenate([yw, np.full(len(history.failed), yw.max())])
        self.gp.fit(x, yw, seed=int(self.rng.integers(2**31)))
        best = float(yw.min())
        lie = best
        out: list[dict[str, Any]] = []
        xs, ys = x, yw
        pending = [self.space.features(c) for c in history.pending]
        if pending and self.batch == "liar":
            xs = np.vstack([xs, np.stack(pending)])
            ys = np.concatenate([ys, np.full(len(pending), lie)])
            self.gp.set_data(xs, ys)
        elif pending:
            xs = np.vstack([xs, np.stack(pending)])
        fitted = self.gp
        for _ in range(n):
            cands = self._candidates(x, yw)
            if self.batch == "qei" and len(xs) > len(x):
                acq: LogEI | FantasyLogEI = FantasyLogEI(
                    fitted, best, xs[len(x) :], self.n_fantasies, self.rng
                )
            else:
                acq = LogEI(self.gp, best)
            ranked, _ = optimize_acquisition(
                acq,
                cands,
                self._free,
                self._snap,
                n_starts=self.n_starts,
                maxiter=self.acq_maxiter,
                incumbent=x[int(np.argmin(yw[: len(x)]))],
                rng=self.rng,
            )
            point = None
            for p in (self._categorical_moves(ranked[0], acq), *ranked):
                # a (near-)repeat of a known point teaches the model nothing: L-BFGS-B often
                # converges to within 1e-7 of a trial at a bound, so compare at a coarse scale
                if np.min(np.abs(xs - p).max(axis=1)) > self.min_distance:
                    point = p
                    break
            if point is None:
                point = self.space.features(self.space.sample(self.rng, 1)[0])
            else:
                point = self._boundary_probe(point, x[int(np.argmin(yw[: len(x)]))], xs)
            config = self.space.from_features(point)
            out.append(config)
            xs = np.vstack([xs, self.space.features(config)])
            ys = np.concatenate([ys, [lie]])
            if len(out) < n and self.batch == "liar":
                self.gp.set_data(xs, ys)
        return out
