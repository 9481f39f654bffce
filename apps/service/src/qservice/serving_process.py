"""The API process's handle on its model-serving process (``model_server``): started with the
app, tied to it (it exits when the API process is gone), started again if it dies, and reached
over a private Unix socket through a small pool of connections."""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from qservice.errors import Overloaded
from qservice.model_server import KEY_ENV, THREADS_ENV


class ServingUnavailable(Overloaded):
    """The model-serving process cannot answer now (503 with Retry-After)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "2"})


class ServingProcess:
    """``predict(folder, precision, texts)`` in the model-serving process."""

    def __init__(self, threads: int = 1, pool: int = 8, start_timeout: float = 30.0) -> None:
        self.threads, self.start_timeout = threads, start_timeout
        self._folder = Path(tempfile.mkdtemp(prefix="qservice-serving-"))  # 0700
        self.address = str(self._folder / "model.sock")
        self._key = secrets.token_bytes(32)
        self._process: subprocess.Popen | None = None
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue(maxsize=pool)
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process (again, if it died)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
        self._drain()
        env = {**os.environ, KEY_ENV: self._key.hex(), THREADS_ENV: str(self.threads)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "qservice.model_server", self.address],
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(self.address):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise ServingUnavailable("model serving: the serving process did not start")
            time.sleep(0.02)

    def _drain(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _connection(self) -> Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start_locked()  # it died (OOM, a native crash): start another
        return Client(self.address, family="AF_UNIX", authkey=self._key)

    def _settle(self) -> None:
        """After a broken connection: let a dying process finish dying, so that the next
        attempt starts a fresh one instead of knocking on a closing socket."""
        self._drain()
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=2)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request; on a broken connection (the process died since) it is sent once
        more, to a fresh process if need be (requests are pure reads, safe to repeat)."""
        for attempt in (1, 2):
            try:
                conn = self._connection()
            except OSError as exc:
                if attempt == 2:
                    raise ServingUnavailable(f"model serving: cannot reach it ({exc})") from None
                self._settle()
                continue
            try:
                conn.send(request)
                reply = conn.recv()
            except (EOFError, OSError):
                conn.close()
                if attempt == 2:
                    raise ServingUnavailable("model serving: the process stopped; retry") from None
                self._settle()
                continue
            try:
                self._idle.put_nowait(conn)
            except queue.Full:
                conn.close()
            return reply
        raise ServingUnavailable("model serving: unreachable; retry")

    def predict(self, folder: Path, precision: str, texts: list[str]) -> dict[str, Any]:
        return self.call(
            {"op": "predict", "folder": str(folder), "precision": precision, "texts": texts}
        )

    def stats(self) -> dict[str, Any]:
        return self.call({"op": "stats"})

    def stop(self) -> None:
        with self._lock:
            self._drain()
            if self._process is not None and self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=5)
            shutil.rmtree(self._folder, ignore_errors=True)
