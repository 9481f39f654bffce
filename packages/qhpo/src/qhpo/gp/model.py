"""A Gaussian process with a Matern 5/2 ARD kernel, fitted by maximum a posteriori.

Inputs live in [0, 1]^d (the space's feature view), outputs are warped and standardised
(:mod:`qhpo.gp.warping`), so the priors below are on a fixed scale whatever the objective.
Hyperparameters ``theta = [log lengthscale_1..d, log signal variance, log noise variance]``
are fitted by L-BFGS-B on the negative log marginal likelihood plus log-priors, with the
analytic gradient, warm-started from the previous fit (a suggestion costs milliseconds).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize

__all__ = ["GaussianProcess", "matern52"]

SQRT5 = math.sqrt(5.0)
_JITTER = 1e-8
# bounds on theta (in log space): lengthscales, signal variance, noise variance
_LOG_LS = (math.log(5e-3), math.log(20.0))
_LOG_SF = (math.log(5e-2), math.log(20.0))
_LOG_NOISE = (math.log(1e-6), math.log(0.5))
# log-normal prior on the noise variance (mean of log, sd of log), outputs standardised.
# Centred at 1e-2, not lower: with a near-zero noise the GP interpolates Ackley's ripples with
# lengthscales of 0.02 and loses the funnel (an ad-hoc 3-seed check during development)
NOISE_PRIOR = (math.log(1e-2), 1.5)


def matern52(
    xa: np.ndarray, xb: np.ndarray, lengthscales: np.ndarray, variance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel matrix ``K[i, j]`` and the scaled distance ``r[i, j]``."""
    diff = (xa[:, None, :] - xb[None, :, :]) / lengthscales
    r = np.sqrt(np.maximum((diff * diff).sum(-1), 0.0))
    k = variance * (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-SQRT5 * r)
    return k, r


def _prior_mean_log_ls(d: int) -> float:
    # a lengthscale of about the cube's side a priori. The dimension-scaled prior of Hvarfner,
    # Hellsten & Nardi (2024), exp(sqrt 2 + log(d)/2) ~ 10 at d = 6, did worse on Hartmann6 and
    # Ackley6 in ad-hoc 3-4-seed checks during development (too smooth for 50 trials)
    return 0.0


class GaussianProcess:
    """GP regression on standardised outputs. ``fit`` once, then ``predict`` many times."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.theta = np.concatenate(
            [np.full(dim, math.log(0.5)), [0.0], [math.log(1e-3)]]
        )  # a neutral start; replaced by the first fit
        self.x = np.zeros((0, dim))
        self.y = np.zeros(0)
        self._prior_mu = _prior_mean_log_ls(dim)
        self._prior_sd = math.sqrt(3.0)
        self._fitted = False

    # --- hyperparameters ------------------------------------------------------------------
    @property
    def lengthscales(self) -> np.ndarray:
        return np.exp(self.theta[: self.dim])

    @property
    def signal_variance(self) -> float:
        return float(np.exp(self.theta[self.dim]))

    @property
    def noise_variance(self) -> float:
        return float(np.exp(self.theta[self.dim + 1]))

    def _neg_log_posterior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.dim
        ls = np.exp(theta[:d])
        sf2 = math.exp(theta[d])
        noise = math.exp(theta[d + 1])
        x, y = self.x, self.y
        n = len(y)
        diff2 = ((x[:, None, :] - x[None, :, :]) / ls) ** 2  # (n, n, d)
        r = np.sqrt(np.maximum(diff2.sum(-1), 0.0))
        e = np.exp(-SQRT5 * r)
        m = (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e
        k = sf2 * m + (noise + _JITTER) * np.eye(n)
        try:
            c = cho_factor(k, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve(c, y, check_finite=False)
        nll = 0.5 * y @ alpha + np.log(np.diag(c[0])).sum() + 0.5 * n * math.log(2 * math.pi)
        kinv = cho_solve(c, np.eye(n), check_finite=False)
        w = np.outer(alpha, alpha) - kinv  # d nll / dK = -W / 2
        g = np.empty_like(theta)
        # dK/dlog(ls_d) = sf2 * 5/3 (1 + sqrt5 r) exp(-sqrt5 r) * (dx_d / ls_d)^2
        gfac = sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e
        g[:d] = -0.5 * np.einsum("ij,ijk->k", w * gfac, diff2)
        g[d] = -0.5 * np.sum(w * (sf2 * m))
        g[d + 1] = -0.5 * np.trace(w) * noise
        # priors: log-normal on lengthscales; a weak pull of the signal variance towards 1
        # (outputs are standardised) and of the noise towards small values (expensive
        # training runs are nearly deterministic at a fixed seed; the data can say otherwise)
        z = (theta[:d] - self._prior_mu) / self._prior_sd
        nll += 0.5 * float(z @ z)
        g[:d] += z / self._prior_sd
        nll += 0.5 * (theta[d] / 1.5) ** 2
        g[d] += theta[d] / 1.5**2
        zn = (theta[d + 1] - NOISE_PRIOR[0]) / NOISE_PRIOR[1]
        nll += 0.5 * zn * zn
        g[d + 1] += zn / NOISE_PRIOR[1]
        return float(nll), g

    def fit(self, x: np.ndarray, y: np.ndarray, restarts: int = 1, seed: int | None = None) -> None:
        """Fit hyperparameters to ``(x, y)`` (y standardised), from the last fit and a default."""
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        d = self.dim
        bounds = [_LOG_LS] * d + [_LOG_SF, _LOG_NOISE]
        default = np.concatenate([np.full(d, math.log(0.5)), [0.0], [math.log(1e-3)]])
        # after the first fit the previous optimum is the start (the data changed by a point)
        starts = [default] if not self._fitted else [self.theta]
        rng = np.random.default_rng(seed)
        for _ in range(max(0, restarts - 1)):
            starts.append(
                np.concatenate(
                    [rng.uniform(math.log(0.05), math.log(3.0), d), [0.0], [math.log(1e-3)]]
                )
            )
        best_f, best_theta = math.inf, starts[0]
        for t0 in starts:
            res = minimize(
                self._neg_log_posterior,
                t0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 100},
            )
            if res.fun < best_f:
                best_f, best_theta = float(res.fun), res.x
        self.theta = np.asarray(best_theta)
        self._fitted = True
        self._factorise()

    def set_data(self, x: np.ndarray, y: np.ndarray) -> None:
        """New data at the current hyperparameters (constant liar: no refit)."""
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self._factorise()

    def _factorise(self) -> None:
        k, _ = matern52(self.x, self.x, self.lengthscales, self.signal_variance)
        k[np.diag_indices_from(k)] += self.noise_variance + _JITTER
        self._chol = np.linalg.cholesky(k)
        self._alpha = cho_solve((self._chol, True), self.y, check_finite=False)

    # --- prediction -----------------------------------------------------------------------
    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at ``xq`` (m, d)."""
        k, _ = matern52(np.atleast_2d(xq), self.x, self.lengthscales, self.signal_variance)
        mu = k @ self._alpha
        v = solve_triangular(self._chol, k.T, lower=True, check_finite=False)
        var = np.maximum(self.signal_variance - (v * v).sum(0), 1e-12)
        return mu, var

    def predict_with_grad(
        self, xq: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients with respect to ``xq`` (m, d) -> (m, d)."""
        ls = self.lengthscales
        sf2 = self.signal_variance
        diff = xq[:, None, :] - self.x[None, :, :]  # (m, n, d)
        r = np.sqrt(np.maximum(((diff / ls) ** 2).sum(-1), 0.0))
        e = np.exp(-SQRT5 * r)
        k = sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e  # (m, n)
        # dk/dx_d = -sf2 * 5/3 (1 + sqrt5 r) exp(-sqrt5 r) * dx_d / ls_d^2  (no 1/r singularity)
        dk = -(sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e)[:, :, None] * diff / (ls * ls)
        mu = k @ self._alpha
        dmu = np.einsum("mnd,n->md", dk, self._alpha)
        kinv_k = cho_solve((self._chol, True), k.T, check_finite=False)  # (n, m)
        var = sf2 - np.einsum("mn,nm->m", k, kinv_k)
        dvar = -2.0 * np.einsum("mnd,nm->md", dk, kinv_k)
        small = var < 1e-12
        var = np.where(small, 1e-12, var)
        dvar[small] = 0.0
        return mu, var, dmu, dvar
