"""Fixtures: a real server on SQLite for the tests that only need a running service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qservice.testing import LiveServer, sqlite_server


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    """One SQLite server for the tests that only need a running service."""
    server = sqlite_server(tmp_path_factory.mktemp("live"))
    server.make_key("admin", ["admin"])
    server.make_key("reader", ["read"])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(live):  # type: ignore[no-untyped-def]
    from qservice import Client

    with Client(live.url, live.keys["admin"]) as c:
        yield c
