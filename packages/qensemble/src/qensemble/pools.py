"""Where members train: worker pools with one task per worker at a time.

Every pool has the same small interface (``submit(worker, task)``, ``wait(handles, timeout)``,
``result(handle)``, ``restart(worker)``, ``close()``), so :class:`~qensemble.Ensemble`
schedules, retries and balances the same way on each:

- :class:`LocalPool` (``backend="local"``, the default): one single-process
  ``ProcessPoolExecutor`` per worker, started with ``spawn`` (safe with torch; fork would copy
  torch's thread pools). A worker that dies or hangs is replaced without touching the others.
- :class:`SerialPool` (``backend="serial"``): runs each member in the calling process; for
  debugging and as the no-parallelism baseline.
- :class:`RayPool` (``backend="ray"``, extra ``ray``): one Ray actor per worker.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterable
from typing import Any

from qensemble.errors import MissingExtra
from qensemble.training import MemberResult, MemberTask, train_member

__all__ = ["LocalPool", "RayPool", "SerialPool", "WorkerLost", "make_pool"]


class WorkerLost(RuntimeError):
    """The worker process or actor running a task died (the task moves to another worker)."""


class _Deferred:
    """A serial task: it runs when the scheduler waits for it (so its time is measured)."""

    def __init__(self, task: MemberTask) -> None:
        self.task = task
        self.future: cf.Future = cf.Future()

    def run(self) -> None:
        try:
            self.future.set_result(train_member(self.task))
        except Exception as exc:  # the scheduler records it as the member's failure
            self.future.set_exception(exc)


class SerialPool:
    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers

    def ready_since(self, worker: int) -> float | None:
        return 0.0

    def submit(self, worker: int, task: MemberTask) -> _Deferred:
        return _Deferred(task)

    def wait(self, handles: Iterable[Any], timeout: float | None) -> set[Any]:
        first = next(iter(handles))
        if not first.future.done():
            first.run()
        return {first}

    def result(self, handle: _Deferred) -> MemberResult:
        return handle.future.result()

    def restart(self, worker: int) -> None:
        return None

    def close(self) -> None:
        return None


def _initialise_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _warm_up() -> int:
    return os.getpid()


class LocalPool:
    def __init__(self, n_workers: int, threads: int = 1) -> None:
        self.n_workers = n_workers
        self._threads = threads
        self._context = multiprocessing.get_context("spawn")
        self._warm: list[cf.Future] = [cf.Future()] * n_workers
        self._ready: list[float | None] = [None] * n_workers
        self._executors = [self._new(w) for w in range(n_workers)]

    def _new(self, worker: int) -> cf.ProcessPoolExecutor:
        executor = cf.ProcessPoolExecutor(
            max_workers=1,
            mp_context=self._context,
            initializer=_initialise_worker,
            initargs=(self._threads,),
        )
        # Start the process (and its torch import) now, and learn when it is ready, so a
        # member's timeout counts from when its worker could run it, not from the spawn.
        self._warm[worker] = executor.submit(_warm_up)
        self._ready[worker] = None
        return executor

    def ready_since(self, worker: int) -> float | None:
        """When the worker finished starting (``time.perf_counter``), or None if not yet."""
        if self._ready[worker] is None and self._warm[worker].done():
            self._ready[worker] = time.perf_counter()
        return self._ready[worker]

    def submit(self, worker: int, task: MemberTask) -> cf.Future:
        return self._executors[worker].submit(train_member, task)

    def wait(self, handles: Iterable[Any], timeout: float | None) -> set[Any]:
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return set(done)

    def result(self, handle: cf.Future) -> MemberResult:
        try:
            return handle.result()
        except cf.process.BrokenProcessPool as exc:
            raise WorkerLost(f"worker process died ({exc})") from None

    def restart(self, worker: int) -> None:
        old = self._executors[worker]
        # concurrent.futures cannot cancel a running call; a hung worker is ended by killing
        # its one process (the executor's private map is the only handle on it).
        for process in list(getattr(old, "_processes", {}).values()):
            process.kill()
        old.shutdown(wait=False, cancel_futures=True)
        self._executors[worker] = self._new(worker)

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)


def _import_ray(local: bool) -> Any:
    if local:
        # Under `uv run`, Ray (2.45+) otherwise packages the whole working directory for its
        # workers and runs them through uv again: tens of seconds per start, and pointless
        # for a Ray on this machine sharing our environment. The user's own setting wins.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise MissingExtra(
            "backend='ray' needs Ray: pip install 'qensemble[ray]' (or use backend='local')."
        ) from None
    return ray


class _RayWorker:
    def __init__(self, threads: int) -> None:
        _initialise_worker(threads)

    def train(self, task: MemberTask) -> MemberResult:
        return train_member(task)


class RayPool:
    """One Ray actor (1 CPU) per worker. Starts a local Ray (``num_cpus=n_workers``) unless
    Ray is already initialised or ``address`` names a cluster; shuts down only what it started."""

    def __init__(self, n_workers: int, threads: int = 1, address: str | None = None) -> None:
        ray = _import_ray(local=address is None)
        self._ray = ray
        self.n_workers = n_workers
        self._threads = threads
        self._owns = False
        if not ray.is_initialized():
            with warnings.catch_warnings():
                # Ray 2.5x warns at every init that its GPU env-var default will change;
                # we request no GPUs, so the change does not concern these actors.
                warnings.filterwarnings("ignore", message=".*RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO")
                if address is None:
                    ray.init(
                        num_cpus=n_workers,
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                    )
                else:
                    ray.init(address=address, log_to_driver=False)
            self._owns = True
        self._remote = ray.remote(num_cpus=1, max_restarts=0)(_RayWorker)
        self._actors = [self._remote.remote(threads) for _ in range(n_workers)]

    def ready_since(self, worker: int) -> float | None:
        return 0.0  # actors start asynchronously; their start-up counts toward the timeout

    def submit(self, worker: int, task: MemberTask) -> Any:
        return self._actors[worker].train.remote(task)

    def wait(self, handles: Iterable[Any], timeout: float | None) -> set[Any]:
        ready, _ = self._ray.wait(list(handles), num_returns=1, timeout=timeout)
        return set(ready)

    def result(self, handle: Any) -> MemberResult:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(handle)
        except exceptions.RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            original = getattr(exc, "cause", None)
            raise (original if isinstance(original, BaseException) else cause) from None
        except (exceptions.RayActorError, exceptions.WorkerCrashedError) as exc:
            raise WorkerLost(f"Ray actor died ({type(exc).__name__})") from None

    def restart(self, worker: int) -> None:
        self._ray.kill(self._actors[worker], no_restart=True)
        self._actors[worker] = self._remote.remote(self._threads)

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        if self._owns:
            self._ray.shutdown()


def make_pool(backend: str, n_workers: int, threads: int, address: str | None = None) -> Any:
    if backend == "local":
        return LocalPool(n_workers, threads)
    if backend == "serial":
        return SerialPool(n_workers)
    return RayPool(n_workers, threads, address)
