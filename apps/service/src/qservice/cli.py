"""``qservice serve | worker | create-key | migrate``. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from qservice.errors import ConfigError
from qservice.security import DEFAULT_SCOPES, SCOPES


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from qservice.config import Settings

    given = {
        key: getattr(args, key)
        for key in ("host", "port", "database_url", "workers")
        if getattr(args, key, None) is not None
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        flag = field.replace("_", "-")
        raise ConfigError(
            f"{field}: {first['msg']} (flag --{flag} or QSERVICE_{field.upper()})"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qservice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def db_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--database-url", help="SQLAlchemy URL (env QSERVICE_DATABASE_URL)")

    serve = sub.add_parser("serve", help="run the API and a local worker process")
    serve.add_argument("--host", help="(env QSERVICE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="(env QSERVICE_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker threads, 0: no local worker")
    db_flag(serve)
    worker = sub.add_parser("worker", help="run jobs (on this or another machine)")
    worker.add_argument("--workers", type=int, help="threads (env QSERVICE_WORKERS)")
    db_flag(worker)
    key = sub.add_parser("create-key", help="create an API key and print it once")
    key.add_argument("name")
    key.add_argument(
        "--scopes",
        nargs="+",
        default=list(DEFAULT_SCOPES),
        help=f"of {', '.join(SCOPES)} (default: {' '.join(DEFAULT_SCOPES)})",
    )
    db_flag(key)
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    db_flag(migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = _settings(args)
        if args.command == "serve":
            from qservice.server import serve

            serve(settings)
        elif args.command == "worker":
            from qservice.jobs.worker import Worker

            Worker(settings).run()
        elif args.command == "create-key":
            from qservice.db import Database
            from qservice.security import create_key

            db = Database(settings)
            db.migrate()
            with db.session() as s:
                key = create_key(s, args.name, args.scopes)
            print(key)
        elif args.command == "migrate":
            from qservice.db import Database

            Database(settings).migrate()
    except ConfigError as exc:
        print(f"qservice: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
