"""Keep Flower's and Ray's own chatter out of ``python -m qflower`` unless asked.

The app's lines (the run header, one progress line per round, the result) go through Flower's
logger (so ``flwr run --stream`` carries them too); :class:`AppLinesOnly` lets those through
with every WARNING or worse, and drops Flower's INFO/DEBUG narration and the two notices this
app causes on purpose (see :data:`EXPECTED_NOTICES`).
"""

from __future__ import annotations

import logging
from pathlib import Path

_APP_DIR = str(Path(__file__).resolve().parent)

#: Flower notices that are expected here, with why they are not news to the user
EXPECTED_NOTICES: dict[str, str] = {
    "The `run_simulation` function is deprecated": (
        "flwr 1.41's supported simulation path, `flwr run` against a local SuperLink, "
        "cannot give simulated nodes a node_config, and the nodes' privacy limits and "
        "ledger folders live there; `python -m qflower` therefore drives the same "
        "Simulation Engine through run_simulation (README: both commands)"
    ),
    "fraction_evaluate is set to 0.0": (
        "federated evaluation is off on purpose in private runs (the server evaluates on "
        "its central test set)"
    ),
}


class AppLinesOnly(logging.Filter):
    """Pass this app's records and WARNING+ (minus :data:`EXPECTED_NOTICES`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(notice in message for notice in EXPECTED_NOTICES):
            return False
        if record.levelno >= logging.WARNING:
            return True
        return str(record.pathname).startswith(_APP_DIR)


def quiet_flower(verbose: bool = False) -> None:
    """Filter Flower's logger (idempotent); with ``verbose`` only stop the duplicate lines.

    Opacus calls ``logging.basicConfig()`` on import, so Flower's records would also print a
    second time through the root logger: Flower's logger stops propagating either way.
    """
    logger = logging.getLogger("flwr")
    logger.propagate = False
    for existing in [f for f in logger.filters if isinstance(f, AppLinesOnly)]:
        logger.removeFilter(existing)
    if not verbose:
        logger.addFilter(AppLinesOnly())
