"""Log expected improvement (Ament et al., NeurIPS 2023) and its multi-start optimisation.

EI underflows to exactly zero far from the incumbent, which leaves a gradient optimiser on a
flat plateau; its logarithm, computed with the asymptotic forms below, stays informative.
Minimisation convention: improvement is ``best - f(x)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
from scipy.special import erfcx, ndtr

from qhpo.gp.lbfgsb import minimize_lbfgsb
from qhpo.gp.model import GaussianProcess

__all__ = [
    "Acquisition",
    "LogEI",
    "log_ei",
    "log_ei_and_grad",
    "log_h",
    "log_h_and_ratio",
    "optimize_acquisition",
]

_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT_PI_2 = math.sqrt(math.pi / 2)


def _h_positive(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # z >= 0: h(z) = phi(z) + z Phi(z) directly, no cancellation
    cdf = ndtr(z)
    h = np.exp(-0.5 * z * z) * _INV_SQRT_2PI + z * cdf
    return np.log(h), cdf / h


def _h_negative(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # z < 0 (above the far tail): with Phi(z) = erfcx(-z / sqrt 2) phi(z) sqrt(pi / 2),
    # h(z) = phi(z) (1 - exp(t)), t = log(erfcx(-z / sqrt 2) |z| sqrt(pi / 2)) < 0, and
    # 1 - exp(t) = -expm1(t) keeps its relative precision however close t is to 0
    q = erfcx(z * -_INV_SQRT2)
    t = np.log(q * -z) + _C2
    one_minus = -np.expm1(np.minimum(t, -1e-300))
    return -0.5 * z * z - _C1 + np.log(one_minus), q * _SQRT_PI_2 / one_minus


def _h_far(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # z <= -1/sqrt(eps): h(z) ~ phi(z) / z^2, Phi(z) / h(z) ~ |z|
    return -0.5 * z * z - _C1 - 2.0 * np.log(np.abs(z)), -z


def log_h_and_ratio(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log h(z)``, ``h(z) = phi(z) + z Phi(z)``, and ``d log h / dz = Phi(z) / h(z)``.

    Finite for every real z. The branch formulas are evaluated on whole arrays (a local
    search evaluates ten points at a time, where selecting elements costs more than the
    arithmetic): one branch when every z is on the same side, else all of them and a pick.
    """
    z = np.asarray(z, dtype=float)
    if z.size == 0:
        return z.copy(), z.copy()
    lo, hi = z.min(), z.max()
    if lo >= 0.0:
        return _h_positive(z)
    if hi < 0.0 and lo > -_INV_SQRT_EPS:
        return _h_negative(z)
    with np.errstate(all="ignore"):
        lp, rp = _h_positive(z)
        ln, rn = _h_negative(z)
        lf, rf = _h_far(z)
    pos = z >= 0.0
    far = z <= -_INV_SQRT_EPS
    return (
        np.where(pos, lp, np.where(far, lf, ln)),
        np.where(pos, rp, np.where(far, rf, rn)),
    )


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z * Phi(z))``, finite for every real z."""
    return log_h_and_ratio(z)[0]


def log_ei(mu: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    sigma = np.sqrt(var)
    return log_h((best - mu) / sigma) + np.log(sigma)


def log_ei_and_grad(
    gp: GaussianProcess, x: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray]:
    """log-EI at the rows of ``x`` and its gradient with respect to each row."""
    mu, var, dmu, dvar = gp.predict_with_grad(x)
    sigma = np.sqrt(var)
    z = (best - mu) / sigma
    lh, ratio = log_h_and_ratio(z)
    # d/dx [log h(z) + log sigma], dz = (-dmu - z dsigma) / sigma, dsigma = dvar / (2 sigma):
    # one coefficient per row for dmu and one for dvar
    c_mu = -ratio / sigma
    c_var = (1.0 - ratio * z) / (2.0 * var)
    return lh + np.log(sigma), c_mu[:, None] * dmu + c_var[:, None] * dvar


class Acquisition(Protocol):
    """What :func:`optimize_acquisition` maximises: values (m,) and gradients (m, d)."""

    lengthscales: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray: ...

    def with_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class LogEI:
    """log-EI of one GP against the incumbent ``best``."""

    def __init__(self, gp: GaussianProcess, best: float) -> None:
        self.gp = gp
        self.best = best
        self.lengthscales = gp.lengthscales

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return log_ei(*self.gp.predict(x), self.best)

    def with_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return log_ei_and_grad(self.gp, x, self.best)


def optimize_acquisition(
    acq: Acquisition,
    candidates: np.ndarray,
    free: np.ndarray,
    snap: Callable[[np.ndarray], np.ndarray],
    n_starts: int = 10,
    maxiter: int = 30,
    incumbent: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    pgtol: float = 1e-2,
) -> tuple[np.ndarray, np.ndarray]:
    """Points ranked by the acquisition (best first) and their scores.

    Score ``candidates``; start local searches from the best of them, from candidates drawn
    with probability proportional to EI (a roulette over ``exp(log EI - max)``: mostly near
    the best, sometimes a second basin) and from ``incumbent`` (the best trial: EI is often
    highest just beside it); refine all starts with L-BFGS-B over the ``free`` (continuous)
    columns; snap to the space; re-score.

    The starts run as one L-BFGS-B problem in coordinates scaled by the GP's lengthscales
    (``x / l``, where log-EI is about equally curved in every direction). The objective is a
    sum of independent terms, so the joint gradient is the stack of per-start gradients and
    one call does the work of ``n_starts`` (one matrix product per step instead of one per
    start).
    """
    scores = acq(candidates)
    i_max = int(np.argmax(scores))
    chosen = [i_max]
    n_extra = n_starts - 1 - (incumbent is not None)
    if rng is not None and n_extra > 0:
        probs = np.exp(scores - scores[i_max])
        probs[i_max] = 0.0
        nonzero = int(np.count_nonzero(probs > 0))
        if nonzero:
            take = min(n_extra, nonzero)
            chosen += list(rng.choice(len(scores), size=take, replace=False, p=probs / probs.sum()))
    elif n_extra > 0:
        chosen += [int(i) for i in np.argsort(-scores)[1 : 1 + n_extra]]
    starts = candidates[chosen]
    if incumbent is not None:
        starts = np.vstack([starts, incumbent[None, :]])
    starts = starts.copy()
    k, _d = starts.shape
    if free.any():
        idx = np.flatnonzero(free)
        ls = acq.lengthscales[idx]

        all_free = len(idx) == _d

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            if all_free:  # no fixed (categorical) columns to carry along
                x = flat.reshape(k, _d) * ls
                val, grad = acq.with_grad(x)
                grad *= ls
                return -float(val.sum()), -grad.ravel()
            x = starts.copy()
            x[:, idx] = flat.reshape(k, len(idx)) * ls
            val, grad = acq.with_grad(x)
            return -float(val.sum()), -(grad[:, idx] * ls).ravel()

        x_opt, _, _ = minimize_lbfgsb(
            objective,
            (starts[:, idx] / ls).ravel(),
            np.zeros(k * len(idx)),
            np.tile(1.0 / ls, k),
            maxiter,
            pgtol,
        )
        refined = starts.copy()
        refined[:, idx] = np.clip(x_opt.reshape(k, len(idx)) * ls, 0.0, 1.0)
        pool = np.vstack([refined, starts])
    else:
        pool = starts
    snapped = np.stack([snap(p) for p in pool])
    final = acq(snapped)
    order = np.argsort(-final)
    return snapped[order], final[order]
