"""``python -m qflower``: the app on Flower's Simulation Engine in one command, no SuperLink.

The same ServerApp and ClientApp as ``flwr run apps/flower``, started in this process with
``flwr.simulation.run_simulation`` (Ray underneath). Overrides use flwr's syntax::

    uv run python -m qflower --run-config "rounds=2 epsilon=4.0 selection='greedy'"
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Sequence

from qcore.entrypoint import CliParser, entry_point
from qfed.errors import QfedError


def parse_overrides(items: Sequence[str]) -> dict:
    """``"k1=v1 k2=v2"`` (values in TOML syntax; bare words are strings) into a dict."""
    out: dict = {}
    for item in items:
        for pair in item.split():
            key, sep, value = pair.partition("=")
            if not sep:
                raise QfedError(f"run-config override {pair!r} is not key=value")
            try:
                out[key] = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                out[key] = value  # a bare word such as greedy or a path
    return out


@entry_point("qflower", user_errors=(QfedError,))
def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(prog="python -m qflower", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run-config",
        "-c",
        action="append",
        default=[],
        help='overrides like "rounds=2 epsilon=4.0" (every key of [tool.flwr.app.config])',
    )
    parser.add_argument(
        "--node-config",
        "-n",
        action="append",
        default=[],
        help='every simulated client\'s limits, like "max-epsilon=4.0 max-rounds=3" '
        "(keys: max-epsilon, max-delta, min-noise-multiplier, max-rounds, share-label-counts, "
        "count-noise, allow-seeded-noise, trust-server, state-dir)",
    )
    parser.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs Ray may use (default: all)"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Flower's and Ray's own log lines (default: the app's lines and warnings)",
    )
    args = parser.parse_args(argv)
    # quiet the Ray dashboard and its usage-stats prompt; nothing here needs them
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray warns (FutureWarning) about a GPU env-var default that changes later; opt in now
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    from qflower.local import simulate

    simulate(
        parse_overrides(args.run_config),
        node_config=parse_overrides(args.node_config),
        num_cpus=args.num_cpus,
        verbose=args.verbose,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
