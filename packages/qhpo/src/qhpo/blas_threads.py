"""One BLAS thread while an optimiser thinks.

A GP over a hundred trials works on 100x100 matrices: a multi-threaded BLAS spends longer
waking its threads than computing, and on a loaded machine far longer (several times slower
per suggestion in an ad-hoc check on the shared development machine). So every suggestion
runs under a one-thread BLAS limit (threadpoolctl), restored afterwards for the caller.
"""

from __future__ import annotations

from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_controller: ThreadpoolController | None = None


def one_blas_thread() -> Any:
    """A context manager limiting BLAS pools to one thread."""
    global _controller
    if _controller is None:  # created late: it lists the BLAS libraries loaded at the time
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
