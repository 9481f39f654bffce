"""Run a real server (``qservice serve`` in a subprocess, on loopback) for tests and tools:
``LiveServer``; PostgreSQL helpers that skip, or fail when CI requires it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from qservice.config import Settings
from qservice.db import Database
from qservice.security import create_key

POSTGRES_ENV = "QSERVICE_TEST_POSTGRES_URL"
# fast leases so a killed worker's job is seen within seconds
FAST = {
    "QSERVICE_HEARTBEAT_SECONDS": "0.5",
    "QSERVICE_LEASE_SECONDS": "3",
    "QSERVICE_REAP_SECONDS": "0.5",
    "QSERVICE_SHUTDOWN_GRACE_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_url() -> str:
    """The test database's URL; skips the test without one, fails it when CI requires one."""
    import pytest

    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("QSERVICE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"QSERVICE_REQUIRE_POSTGRES=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"no PostgreSQL: set {POSTGRES_ENV} (.ci/run starts one)")
    return url


def reset_postgres(url: str) -> None:
    """An empty public schema (our tables and huey's gone)."""
    from sqlalchemy import text

    from qservice.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass
class LiveServer:
    folder: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> Settings:
        return Settings(database_url=self.database_url, data_dir=self.folder / "data")

    def make_key(self, name: str, scopes: list[str]) -> str:
        db = Database(self.settings())
        db.migrate()
        with db.session() as s:
            key = create_key(s, name, scopes)
        db.dispose()
        self.keys[name] = key
        return key

    def start(self, timeout: float = 180.0, ready: str = "/readyz", **extra: str) -> None:
        """Start ``qservice serve`` and wait until ``ready`` answers 200 (``/readyz``: the
        database and a worker; ``/healthz`` for a server started without workers)."""
        self.port = self.port or free_port()
        env = {
            **os.environ,
            **FAST,
            "QSERVICE_DATABASE_URL": self.database_url,
            "QSERVICE_PORT": str(self.port),
            "QSERVICE_DATA_DIR": str(self.folder / "data"),
            "QSERVICE_WORKERS": "2",
            "OMP_NUM_THREADS": "1",
            **self.env,
            **extra,
        }
        with (self.folder / "server.log").open("ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qservice", "serve"],
                env=env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {(self.folder / 'server.log').read_text()[-3000:]}"
                )
            try:
                if httpx.get(self.url + ready, timeout=2).status_code == 200:
                    self.startup_seconds = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready: {(self.folder / 'server.log').read_text()[-3000:]}")

    def children(self, marker: str) -> list[int]:
        """Pids of the server's child processes whose command line contains ``marker``
        (``qservice.model_server``, or ``worker`` for the local worker)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or self.process is None:
                continue
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.process.pid and marker in argv:
                found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL the server and everything in its session (its worker too)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def sqlite_server(folder: Path) -> LiveServer:
    return LiveServer(folder, f"sqlite:///{folder / 'qservice.db'}")
