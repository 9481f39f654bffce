"""``qservice serve``: migrate, start the local worker process, run uvicorn, stop cleanly.

The worker is a separate process (the request loop never runs a job). It is tied to the
server: on Linux it gets SIGKILL when the server dies (PR_SET_PDEATHSIG), so a killed server
leaves no orphan holding leases; the jobs it held are re-queued by the lease reaper of the
next server. On a normal stop the worker gets SIGINT: huey finishes the jobs in flight for up
to ``shutdown_grace_seconds``, and hands back what is left as queued.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading

from qservice.config import Settings
from qservice.db import Database

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # not glibc/Linux (OSError): the worker then outlives a killed server
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        env[f"QSERVICE_{name.upper()}"] = (
            json.dumps(value) if isinstance(value, list) else str(value)
        )
    return env


def start_worker(settings: Settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qservice", "worker"],
        env=settings_env(settings),
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        # its own process group: a Ctrl-C in the terminal reaches the server, which then
        # stops the worker in order (uvicorn first, then the worker's graceful SIGINT)
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen, grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # huey: graceful, finish what is running
    try:
        process.wait(timeout=grace + 5)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def serve(settings: Settings) -> None:
    import uvicorn

    from qservice.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings)
    db.migrate()
    db.dispose()
    worker = [start_worker(settings)] if settings.workers > 0 else []
    stopping = threading.Event()

    def supervise() -> None:
        # a worker that dies (OOM, a crash in a native library) is started again; the jobs it
        # held come back through the lease reaper
        while not stopping.wait(2.0):
            if worker and worker[0].poll() is not None and not stopping.is_set():
                logging.getLogger("qservice").warning(
                    "worker exited with %s; starting another", worker[0].returncode
                )
                worker[0] = start_worker(settings)

    threading.Thread(target=supervise, name="worker-supervisor", daemon=True).start()
    try:
        uvicorn.run(
            create_app(settings, migrate=False),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    finally:
        stopping.set()
        if worker:
            stop_worker(worker[0], settings.shutdown_grace_seconds)
