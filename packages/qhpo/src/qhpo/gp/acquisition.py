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
from scipy.special import erfcx, log_ndtr, ndtr

from qhpo.gp.lbfgsb import minimize_lbfgsb
from qhpo.gp.model import GaussianProcess

__all__ = ["Acquisition", "LogEI", "log_ei", "log_ei_and_grad", "log_h", "optimize_acquisition"]

_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    # log(1 - exp(x)) for x < 0, accurate on both sides of -log 2 (Maechler 2012); one
    # formula on the whole array when every x is on the same side
    near = x > -math.log(2)
    if near.all():
        return np.log(-np.expm1(x))
    if not near.any():
        return np.log1p(-np.exp(x))
    return np.where(near, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _log_h_hi(z: np.ndarray) -> np.ndarray:
    return np.log(np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) + z * ndtr(z))


def _log_h_mid(z: np.ndarray) -> np.ndarray:
    inner = np.log(erfcx(-z / math.sqrt(2)) * np.abs(z)) + _C2
    return -0.5 * z * z - _C1 + _log1mexp(np.minimum(inner, -1e-300))


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z * Phi(z))``, finite for every real z.

    Three branches by z (> -1, down to -1/sqrt(eps), beyond). A local search evaluates ten
    points at a time, where selecting elements costs more than the arithmetic: when every
    z falls in one branch, that branch runs on the whole array (elementwise, so the values
    are those of the masked evaluation).
    """
    z = np.asarray(z, dtype=float)
    if z.size:
        lo_z, hi_z = z.min(), z.max()
        if lo_z > -1.0:
            return _log_h_hi(z)
        if hi_z <= -1.0 and lo_z > -_INV_SQRT_EPS:
            return _log_h_mid(z)
    out = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = _log_h_hi(zh)
    mid = (~hi) & (z > -_INV_SQRT_EPS)
    out[mid] = _log_h_mid(z[mid])
    lo = z <= -_INV_SQRT_EPS
    zl = z[lo]
    out[lo] = -0.5 * zl * zl - _C1 - 2.0 * np.log(np.abs(zl))
    return out


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
    lh = log_h(z)
    # d log h / dz = Phi(z) / h(z), in logs so it stays finite in the far tail
    ratio = np.exp(log_ndtr(z) - lh)
    dsigma = dvar / (2.0 * sigma[:, None])
    dz = (-dmu - z[:, None] * dsigma) / sigma[:, None]
    grad = ratio[:, None] * dz + dsigma / sigma[:, None]
    return lh + np.log(sigma), grad


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

        # the same L-BFGS-B routine as minimize(..., method="L-BFGS-B"), without its wrapper
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
