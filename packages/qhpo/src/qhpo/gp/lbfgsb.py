"""SciPy's L-BFGS-B routine without ``scipy.optimize.minimize`` around it.

The GP optimiser runs two small box-constrained problems per suggestion (the hyperparameter
fit, 8 variables for 6 dimensions, and the joint acquisition search, 60), each a few dozen
evaluations of a function that costs tens of microseconds. ``minimize`` adds about as much
again per evaluation (bounds conversion, a memoising ``ScalarFunction`` that copies ``x``
and compares it with the last one, result objects). This driver calls the same routine
(``scipy.optimize._lbfgsb.setulb``, SciPy >= 1.15) with the same defaults and the same
stopping rules, so the iterates are those of ``minimize(..., method="L-BFGS-B")`` (a test
checks equality); where that private routine is missing or has another signature it falls
back to ``minimize``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

__all__ = ["minimize_lbfgsb"]

try:
    from scipy.optimize._lbfgsb import error as _lbfgsb_error
    from scipy.optimize._lbfgsb import setulb as _setulb
except ImportError:  # pragma: no cover - other SciPy layouts
    _setulb = None
    _lbfgsb_error = RuntimeError

_FTOL = 2.2204460492503131e-09  # minimize's default ftol for L-BFGS-B
_MAXCOR = 10
_MAXLS = 20
_usable = _setulb is not None


def _scipy(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    maxiter: int,
    gtol: float,
) -> tuple[np.ndarray, float, int]:
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lower, upper, strict=True)),
        options={"maxiter": maxiter, "gtol": gtol},
    )
    return np.asarray(res.x), float(res.fun), int(res.nfev)


def minimize_lbfgsb(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    maxiter: int,
    gtol: float,
) -> tuple[np.ndarray, float, int]:
    """Minimise ``fun`` (value and gradient) over the box ``[lower, upper]`` (finite bounds).

    Returns ``(x, f(x), number of evaluations)``, as ``minimize(fun, x0, jac=True,
    method="L-BFGS-B", bounds=..., options={"maxiter": maxiter, "gtol": gtol})`` would.
    """
    global _usable
    lower = np.ascontiguousarray(lower, dtype=np.float64)
    upper = np.ascontiguousarray(upper, dtype=np.float64)
    if not _usable:
        return _scipy(fun, x0, lower, upper, maxiter, gtol)
    n = len(lower)
    m = _MAXCOR
    x = np.clip(np.asarray(x0, dtype=np.float64).ravel(), lower, upper)
    # minimize evaluates at x0 first (ScalarFunction) and answers the routine's first
    # request from that; later repeats of a point are answered from the last evaluation too
    f, g = fun(x.copy())
    f = float(f)
    g = np.asarray(g, dtype=np.float64).ravel()
    last_x = x.copy()
    nfev = 1
    nbd = np.full(n, 2, dtype=np.int32)  # both bounds
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    factr = _FTOL / np.finfo(float).eps
    fx = np.array(f, dtype=np.float64)
    gx = g.copy()
    n_iterations = 0
    while True:
        try:
            _setulb(
                m, x, lower, upper, nbd, fx, gx, factr, gtol, wa, iwa, task, lsave, isave,
                dsave, _MAXLS, ln_task,
            )  # fmt: skip
        except (TypeError, ValueError, _lbfgsb_error):  # pragma: no cover - another signature
            _usable = False
            return _scipy(fun, x0, lower, upper, maxiter, gtol)
        if task[0] == 3:  # the routine wants f and g at x
            if not np.array_equal(x, last_x):
                f, g = fun(x.copy())
                f = float(f)
                g = np.asarray(g, dtype=np.float64).ravel()
                last_x = x.copy()
                nfev += 1
            fx = np.array(f, dtype=np.float64)
            gx = g.copy()
        elif task[0] == 1:  # a new iterate
            n_iterations += 1
            if n_iterations >= maxiter:
                task[0] = 5
                task[1] = 504
        else:
            break
    return x, float(fx), nfev
