"""The qrouting exception hierarchy: narrow classes that subclass the builtin that fits."""

from __future__ import annotations


class QroutingError(Exception):
    """Base class of every error qrouting raises on purpose."""


class InvalidRouting(QroutingError, ValueError):
    """Bad input: wrong shape, NaN scores, k out of range, a bad option. Says the field and fix."""


class CapacityError(InvalidRouting):
    """Capacity is too small to place every token and ``on_overflow="raise"`` was asked for."""

    def __init__(self, message: str, *, slots: int, demand: int) -> None:
        super().__init__(message)
        self.slots = slots
        self.demand = demand

    @property
    def would_drop(self) -> int:
        """How many (token, expert) assignments would be dropped."""
        return self.demand - self.slots


class UnknownRouter(InvalidRouting):
    """No router is registered under the requested name."""


class RouterFailed(QroutingError, RuntimeError):
    """A router could not produce a plan (solver failure, time limit)."""


class MissingExtra(QroutingError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
