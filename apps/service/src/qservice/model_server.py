"""The model-serving process: exported models (``onnx_engine``) kept loaded, texts in,
predictions out, over a Unix socket that only the API process that started it can use
(``multiprocessing.connection`` with a random key from ``secrets``).

It imports the standard library, numpy, onnxruntime, tokenizers and qcompress, and nothing
else of the workspace's heavy stack (no torch, transformers, PEFT, Opacus, Flower, FastAPI):
the memory and load-time targets of model serving are measured on this process.

    python -m qservice.model_server SOCKET   (key in QSERVICE_MODEL_SERVER_KEY, hex)
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import OrderedDict
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

KEY_ENV = "QSERVICE_MODEL_SERVER_KEY"
THREADS_ENV = "QSERVICE_SERVING_THREADS"


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


class Engines:
    """Loaded engines by (folder, precision), least recently used dropped beyond ``size``.
    Two requests for a model not loaded yet load it once."""

    def __init__(self, size: int = 2, threads: int = 1) -> None:
        self.size, self.threads = size, threads
        self._engines: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, folder: str, precision: str) -> Any:
        from qservice.onnx_engine import load_engine

        key = (folder, precision)
        with self._lock:
            if key in self._engines:
                self._engines.move_to_end(key)
                return self._engines[key]
            engine = load_engine(Path(folder), precision, threads=self.threads)
            self._engines[key] = engine
            while len(self._engines) > self.size:
                self._engines.popitem(last=False)
            return engine

    def loaded(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"folder": f, "precision": p, "load_seconds": e.load_seconds}
                for (f, p), e in self._engines.items()
            ]


def handle(engines: Engines, request: dict[str, Any]) -> dict[str, Any]:
    """One request: ``predict`` (folder, precision, texts) or ``stats``."""
    from qservice.onnx_engine import ModelUnavailable

    op = request.get("op")
    if op == "stats":
        return {
            "ok": True,
            "pid": os.getpid(),
            "rss_kb": status_kb("VmRSS"),
            "peak_rss_kb": status_kb("VmHWM"),
            "loaded": engines.loaded(),
            "modules": sorted(m for m in sys.modules if "." not in m),
        }
    if op != "predict":
        return {"ok": False, "error": "bad_request", "message": f"op: unknown {op!r}"}
    try:
        started = time.perf_counter()
        engine = engines.get(str(request["folder"]), str(request["precision"]))
        predictions = engine.predict(list(request["texts"]))
    except ModelUnavailable as exc:
        return {"ok": False, "error": "unavailable", "message": str(exc)}
    except (KeyError, ValueError, TypeError) as exc:
        return {"ok": False, "error": "bad_request", "message": str(exc).splitlines()[0]}
    return {
        "ok": True,
        "predictions": predictions,
        "info": engine.info,
        "load_seconds": engine.load_seconds,
        "seconds": time.perf_counter() - started,
    }


def _serve_connection(engines: Engines, conn: Connection) -> None:
    with conn:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):  # the API process closed this connection
                return
            try:
                reply = handle(engines, request)
            except Exception as exc:  # one bad model must not take the process down
                traceback.print_exc()  # to the server's log (our stderr is the API's)
                reply = {"ok": False, "error": "internal", "message": type(exc).__name__}
            try:
                conn.send(reply)
            except OSError:
                return


def _exit_with_parent(parent: int) -> None:
    # the API process that started us is gone (killed, crashed): nobody can reach us now
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def serve(address: str, key: bytes, threads: int = 1, cache_size: int = 2) -> None:
    engines = Engines(cache_size, threads)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="parent-watch"
    ).start()
    with Listener(address, family="AF_UNIX", authkey=key) as listener:
        os.chmod(address, 0o600)
        while True:
            try:
                conn = listener.accept()
            except OSError:  # a client that failed the key challenge, or hung up early
                continue
            threading.Thread(
                target=_serve_connection, args=(engines, conn), daemon=True, name="predict"
            ).start()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    key = os.environ.pop(KEY_ENV, "")
    if len(args) != 1 or not key:
        print(f"usage: python -m qservice.model_server SOCKET (key in {KEY_ENV})", file=sys.stderr)
        return 2
    serve(args[0], bytes.fromhex(key), threads=int(os.environ.get(THREADS_ENV, "1")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
