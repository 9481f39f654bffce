"""Solvers by name: built-ins and third-party plugins from the ``qcore.solvers`` entry points."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import dimod

from qcore.errors import SolverUnavailable, UnknownParameter, UnknownSolver

ENTRY_POINT_GROUP = "qcore.solvers"

_runtime: dict[str, Callable[..., dimod.Sampler]] = {}


@dataclass(frozen=True)
class SolverInfo:
    name: str
    available: bool
    reason: str | None  # why not, and what to install, when unavailable
    origin: str  # "module:attr" of the implementation


def register_solver(name: str, factory: Callable[..., dimod.Sampler]) -> None:
    """Register a solver at run time (plugins normally use the entry-point group instead)."""
    _runtime[name] = factory


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def solver_names() -> list[str]:
    return sorted(set(_entry_points()) | set(_runtime))


def _load(name: str) -> Callable[..., dimod.Sampler]:
    if name in _runtime:
        return _runtime[name]
    eps = _entry_points()
    if name not in eps:
        raise UnknownSolver(
            f"no solver named {name!r}; available names: {', '.join(solver_names())}. "
            f"Plugins register under the entry-point group {ENTRY_POINT_GROUP!r}; "
            "make sure the package that provides it is installed."
        )
    try:
        return eps[name].load()
    except ImportError as exc:
        raise SolverUnavailable(
            f"solver {name!r} could not be imported ({exc}); "
            "make sure the package or extra that provides it is installed."
        ) from exc


def get_solver(name: str, **init: Any) -> dimod.Sampler:
    """Instantiate the solver registered as ``name``; ``init`` goes to its constructor.

    Raises ``UnknownSolver`` for a name nobody registered, ``SolverUnavailable`` (naming the
    extra to install) when its optional dependencies are missing, and ``UnknownParameter``
    when the constructor does not take ``init`` (sampling parameters go to ``.sample``).
    """
    factory = _load(name)
    reason = getattr(factory, "unavailable_reason", lambda: None)()
    if reason:
        raise SolverUnavailable(
            f"solver {name!r} is unavailable: {reason}", extra=getattr(factory, "extra", None)
        )
    _check_constructor_arguments(name, factory, init)
    return factory(**init)


def _check_constructor_arguments(name: str, factory: Callable[..., Any], init: dict) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no introspectable signature: let the factory decide
        return
    try:
        signature.bind(**init)
    except TypeError:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        takes = [p.name for p in signature.parameters.values() if p.kind in kinds]
        raise UnknownParameter(
            f"get_solver({name!r}): its constructor does not take {sorted(init)}; it takes "
            f"{takes or 'no arguments'}. Sampling parameters go to .sample(), e.g. "
            f"get_solver({name!r}).sample(bqm, {next(iter(init), 'num_reads')}=...)."
        ) from None


def list_solvers() -> list[SolverInfo]:
    """Every registered solver, whether it can run here, and if not, why."""
    infos = []
    eps = _entry_points()
    for name in solver_names():
        origin = eps[name].value if name in eps else repr(_runtime[name])
        try:
            factory = _load(name)
            reason = getattr(factory, "unavailable_reason", lambda: None)()
        except SolverUnavailable as exc:
            reason = str(exc)
        infos.append(SolverInfo(name, reason is None, reason, origin))
    return infos
