"""The worker process: huey's consumer runs jobs in threads; each job holds a lease that a
heartbeat renews, and the worker's own row says it is alive (for /readyz).

``run_worker`` is what ``qservice worker`` runs (also started by ``qservice serve``). SIGINT
finishes the jobs in flight (up to the shutdown grace), SIGTERM stops at once; either way the
jobs still held are handed back as queued.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from sqlalchemy import delete, update

from qservice.config import Settings
from qservice.db import Database
from qservice.jobs import store
from qservice.jobs.queue import JobQueue
from qservice.jobs.registry import JobCancelled, JobContext, get_kind
from qservice.models import WorkerBeat, utcnow

log = logging.getLogger("qservice.worker")


class Worker:
    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        import qservice.routes  # noqa: F401  (registers every job kind)

        self.settings = settings
        self.threads = threads if threads is not None else max(1, settings.workers)
        self.db = Database(settings)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.queue = JobQueue(settings, handler=self.execute)
        self._stop = threading.Event()

    # ---------------------------------------------------------------- one job
    def execute(self, job_id: str) -> None:
        s = self.settings
        job = store.claim(self.db, job_id, self.id, s.lease_seconds)
        if job is None:  # cancelled, taken, or a duplicate message: nothing to do
            return
        ctx = JobContext(
            job_id,
            lambda kind, data: store.add_event(self.db, job_id, kind, data),
            s.data_dir,
            self.db,
        )
        done = threading.Event()
        lost = threading.Event()

        def heartbeat() -> None:
            while not done.wait(s.heartbeat_seconds):
                held, cancel = store.renew(self.db, job_id, self.id, s.lease_seconds)
                if cancel:
                    ctx.cancel_requested = True
                if not held:
                    lost.set()
                    ctx.cancel_requested = True  # someone else owns it now: stop
                    return

        beat = threading.Thread(target=heartbeat, name=f"lease-{job_id[:8]}", daemon=True)
        beat.start()
        try:
            kind = get_kind(job.kind)
            params = kind.params.model_validate(job.params)
            result = kind.run(params, ctx)
            ctx_cancel = ctx.cancel_requested and not lost.is_set()
            if ctx_cancel:
                store.finish(self.db, job_id, self.id, "cancelled", error="cancelled on request")
            else:
                store.finish(self.db, job_id, self.id, "succeeded", result=result)
        except JobCancelled:
            store.finish(self.db, job_id, self.id, "cancelled", error="cancelled on request")
        except Exception as exc:  # a job's failure is its result, not the worker's
            log.info("job %s failed: %s: %s", job_id, type(exc).__name__, exc)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            store.finish(
                self.db, job_id, self.id, "failed", error=f"{type(exc).__name__}: {message}"[:2000]
            )
        finally:
            done.set()
            beat.join(timeout=5)

    # ---------------------------------------------------------------- the process
    def _beat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                with self.db.session() as s:
                    s.execute(
                        update(WorkerBeat)
                        .where(WorkerBeat.id == self.id)
                        .values(last_seen=utcnow())
                    )
            except Exception:  # the database may be briefly away; the next beat retries
                log.warning("worker heartbeat failed", exc_info=True)

    def run(self) -> None:
        with self.db.session() as s:
            s.add(
                WorkerBeat(
                    id=self.id, host=socket.gethostname(), pid=os.getpid(), threads=self.threads
                )
            )
        beat = threading.Thread(target=self._beat_loop, name="worker-beat", daemon=True)
        beat.start()
        consumer = self.queue.huey.create_consumer(
            workers=self.threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=0.5,
            check_worker_health=True,
            shutdown_timeout=self.settings.shutdown_grace_seconds,
        )
        try:
            consumer.run()
        finally:
            self._stop.set()
            released = store.release_worker(self.db, self.id)
            for job_id in released:  # someone else picks them up
                self.queue.enqueue(job_id)
            with self.db.session() as s:
                s.execute(delete(WorkerBeat).where(WorkerBeat.id == self.id))
            self.db.dispose()
