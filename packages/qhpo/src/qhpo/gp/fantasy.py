"""q-EI for batches and pending trials: log-EI averaged over fantasies of the pending values.

The expected improvement of a point ``x`` given points ``P`` that are being evaluated (other
workers, or earlier points of the same batch) is the EI of ``x`` averaged over the values
``P`` may take. Draw ``S`` joint samples ``f_s`` of the latent values at ``P`` from the
posterior of the observed data; condition the GP on each (same hyperparameters: the
posterior variance at ``x`` depends only on where the points are, the mean linearly on their
values, so one factorisation serves every sample); the incumbent of sample ``s`` is
``min(best, min f_s)``. Choosing batch points one after the other by this average is the
greedy maximisation of the Monte-Carlo q-EI (Ginsbourger et al. 2010; Wilson et al. 2018),
as BoTorch and Optuna's GPSampler do for running trials. Unlike the constant liar, a pending
point does not pretend to have reached the best value: where the model is unsure, its
fantasies spread and EI near it stays partly open.
"""

from __future__ import annotations

import copy
import math

import numpy as np
from scipy.linalg import cho_solve
from scipy.special import logsumexp

from qhpo.gp.acquisition import log_h, log_h_and_ratio
from qhpo.gp.model import GaussianProcess, matern52

__all__ = ["FantasyLogEI"]


class FantasyLogEI:
    """``log(mean_s EI_s(x))`` over ``n_fantasies`` samples of the pending points' values."""

    def __init__(
        self,
        gp: GaussianProcess,
        best: float,
        pending: np.ndarray,
        n_fantasies: int,
        rng: np.random.Generator,
    ) -> None:
        mu, cov = gp.predict_joint(pending)
        q = len(pending)
        chol = np.linalg.cholesky(cov + (1e-9 + 1e-9 * np.abs(np.diag(cov)).max()) * np.eye(q))
        # antithetic pairs: the sample mean of the fantasies is exactly the posterior mean
        half = rng.standard_normal((max(1, n_fantasies // 2), q))
        f = mu + np.vstack([half, -half]) @ chol.T  # (S, q)
        self.gp = copy.copy(gp)
        self.gp.set_data(np.vstack([gp.x, pending]), np.concatenate([gp.y, np.zeros(q)]))
        outputs = np.vstack([np.repeat(gp.y[:, None], len(f), axis=1), f.T])  # (n + q, S)
        self.alphas = cho_solve((self.gp._chol, True), outputs, check_finite=False)
        self.bests = np.minimum(best, f.min(axis=1))  # (S,)
        self.lengthscales = gp.lengthscales

    def _per_sample(self, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
        sigma = np.sqrt(var)[:, None]
        return log_h((self.bests[None, :] - mu) / sigma) + np.log(sigma)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        k_mu, var = self._mean_var(x)
        return logsumexp(self._per_sample(k_mu, var), axis=1) - math.log(self.alphas.shape[1])

    def _mean_var(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, _ = matern52(x, self.gp.x, self.gp.lengthscales, self.gp.signal_variance)
        v = k @ self.gp._chol_inv.T
        var = np.maximum(self.gp.signal_variance - (v * v).sum(1), 1e-12)
        return k @ self.alphas, var

    def with_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at the rows of ``x`` and their gradients (m, d)."""
        mu, var, dmu, dvar = self.gp.predict_with_grad(x, self.alphas)  # (m,S) (m,) (m,d,S)
        sigma = np.sqrt(var)
        z = (self.bests[None, :] - mu) / sigma[:, None]
        lh, ratio = log_h_and_ratio(z)  # ratio: d log h / dz
        dsigma = dvar / (2.0 * sigma[:, None])  # (m, d)
        dz = (-dmu - z[:, None, :] * dsigma[:, :, None]) / sigma[:, None, None]
        per = lh + np.log(sigma)[:, None]  # (m, S)
        grad_s = ratio[:, None, :] * dz + (dsigma / sigma[:, None])[:, :, None]
        total = logsumexp(per, axis=1)
        w = np.exp(per - total[:, None])  # softmax weights over the samples
        return total - math.log(per.shape[1]), np.einsum("ms,mds->md", w, grad_s)
