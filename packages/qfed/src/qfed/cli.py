"""``qfed`` command line: run a federated DP-LoRA simulation, audit, or print the anchors.

    qfed simulate --rounds 3 --max-examples-per-client 200 --epsilon 8
    qfed anchors                       # majority and TF-IDF + LR on the held-out split
    qfed settings                      # every setting with its default

Every ``FedConfig`` field is a ``--flag`` (dashes for underscores). The Flower app
(apps/flower) runs the same client and server code across processes or machines.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import typing
from dataclasses import fields
from pathlib import Path

from qcore.entrypoint import CliParser, entry_point

from qfed.errors import QfedError


def _bool(value: str) -> bool:
    # strict: a typo must not silently read as false (e.g. for --insecure-seeded-noise)
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _field_parser(annotation: object):
    text = str(annotation)
    if "bool" in text:
        return _bool
    if "tuple" in text:
        return lambda v: tuple(x.strip() for x in v.split(",") if x.strip())
    if "int" in text:
        return lambda v: None if v.lower() in ("none", "") else int(v)
    if "float" in text:
        return float
    return str


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from qfed.task import FedConfig

    hints = typing.get_type_hints(FedConfig)
    for f in fields(FedConfig):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_field_parser(hints[f.name]),
            default=None,
            help=f"default: {f.default!r}",
        )


def _config(args: argparse.Namespace):
    from qfed.task import FedConfig

    values = {f.name: getattr(args, f.name) for f in fields(FedConfig)}
    return FedConfig(**{k: v for k, v in values.items() if v is not None})


def _simulate(args: argparse.Namespace) -> int:
    from qfed.simulation import simulate

    config = _config(args)
    print(
        f"qfed: {config.num_clients} clients, {config.rounds} rounds, "
        f"{config.clients_per_round} per round, dp={config.dp}, epsilon={config.epsilon}, "
        f"selection={config.selection}, model={config.model}",
        flush=True,
    )
    start = time.perf_counter()
    server = simulate(config, progress=lambda line: print(line, flush=True))
    last = server.history[-1]
    eps = last["epsilon_max"]
    eps_text = "not private" if math.isinf(eps) else f"{eps:.3f} (delta {last['delta']:g})"
    print(
        f"final accuracy {last['accuracy']:.4f}; epsilon spent (max over clients) {eps_text}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    if args.report:
        Path(args.report).write_text(json.dumps(server.state_dict(), indent=1, default=str))
        print(f"report written to {args.report}")
    return 0


def _anchors(args: argparse.Namespace) -> int:
    from qfed.baselines import majority_accuracy, tfidf_logreg_accuracy
    from qfed.task import FederatedTask

    task = FederatedTask(_config(args))
    train, test = task.train_data(), task.test_data()
    print(f"held-out test rows: {len(test)}, train rows: {len(train)}")
    print(f"majority class: {majority_accuracy(train, test):.4f}")
    print(
        f"TF-IDF + logistic regression (central, non-private): "
        f"{tfidf_logreg_accuracy(train, test):.4f}"
    )
    return 0


def _settings(args: argparse.Namespace) -> int:
    from qfed.task import FedConfig

    for key, value in FedConfig().as_dict().items():
        print(f"{key.replace('_', '-')} = {value!r}")
    return 0


@entry_point("qfed", user_errors=(QfedError,))
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(
        prog="qfed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run a federated DP-LoRA simulation in this process")
    _add_config_flags(sim)
    sim.add_argument("--report", help="write the server state and history as JSON here")
    sim.set_defaults(run=_simulate)
    anchors = sub.add_parser("anchors", help="central majority and TF-IDF baselines")
    _add_config_flags(anchors)
    anchors.set_defaults(run=_anchors)
    sub.add_parser("settings", help="every setting and its default").set_defaults(run=_settings)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
