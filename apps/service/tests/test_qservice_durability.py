"""SIGKILL the service (server and worker) in the middle of a job, restart it: every job ends
in a terminal state or is re-run, nothing is lost, the same Idempotency-Key answers the same
job. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import time
import uuid

from qservice import Client
from qservice.testing import LiveServer, postgres_url, reset_postgres

# a 40-spin ring: sa with a time limit anneals until the budget is spent
RING = {
    "vartype": "SPIN",
    "linear": {},
    "quadratic": [[f"s{i}", f"s{(i + 1) % 40}", 1.0] for i in range(40)],
}

SMALL_RING = {
    "vartype": "SPIN",
    "linear": {},
    "quadratic": [[f"s{i}", f"s{(i + 1) % 16}", 1.0] for i in range(16)],
}


def _wait_running(client: Client, job_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.job(job_id)["status"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)


def _wait_gone(pid: int, timeout: float = 10) -> None:
    from pathlib import Path

    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
        except (OSError, IndexError):
            return
        if state == "Z":  # exited; not reaped by its new parent
            return
        assert time.monotonic() < deadline, f"process {pid} still running after {timeout} s"
        time.sleep(0.1)


def kill_and_restart(server: LiveServer, key: str) -> None:
    long = {"bqm": RING, "solver": "sa", "time_limit": 4, "seed": 3}
    idem = str(uuid.uuid4())
    with Client(server.url, key) as client:
        running = client.submit("solve", long, idempotency_key=idem)
        _wait_running(client, running["id"])
        # more work behind it: queued (or running) when the kill comes
        others = [
            client.submit(
                "solve", {"bqm": SMALL_RING, "solver": "exact" if i else "tabu", "seed": i}
            )
            for i in range(3)
        ]
    (serving,) = server.children("qservice.model_server")
    server.kill()
    _wait_gone(serving)  # the model-serving process does not outlive its server
    server.start()
    with Client(server.url, key) as client:
        again = client.http.post(
            "/v1/jobs",
            json={"kind": "solve", "params": long},
            headers={"Idempotency-Key": idem},
        )
        assert again.status_code == 200 and again.json()["id"] == running["id"]
        done = client.wait(running["id"], timeout=180)
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 2  # the first attempt died with its worker; re-run once
        events = list(client.events(running["id"], timeout=30))
        reasons = [e.get("reason", "") for e in events if e.get("status") == "queued"]
        assert any("lease" in r for r in reasons), events
        for job in others:
            finished = client.wait(job["id"], timeout=180)
            assert finished["status"] == "succeeded", finished
        result = client.job(running["id"])["result"]
        assert result["solver"] == "sa" and result["sampleset"]["num_rows"] >= 1


def test_sigkill_restart_on_sqlite(live):
    kill_and_restart(live, live.keys["admin"])


def test_a_killed_worker_is_restarted_and_its_job_rerun(live):
    """Only the worker dies (SIGKILL while it holds the job's lease); the server lives on: its
    supervisor starts another worker, its reaper re-queues the job, which is re-run."""
    import os
    import signal

    with Client(live.url, live.keys["admin"]) as client:
        job = client.submit("solve", {"bqm": RING, "solver": "sa", "time_limit": 2, "seed": 7})
        _wait_running(client, job["id"])
        (worker,) = live.children("worker")
        os.kill(worker, signal.SIGKILL)
        done = client.wait(job["id"], timeout=180)
        assert done["status"] == "succeeded" and done["attempts"] == 2, done
        events = list(client.events(job["id"], timeout=30))
        requeued = [e for e in events if e.get("status") == "queued" and "reason" in e]
        assert requeued and "stopped renewing its lease" in requeued[0]["reason"], events
        (again,) = live.children("worker")
        assert again != worker


def test_sigkill_restart_on_postgresql(tmp_path):
    url = postgres_url()
    reset_postgres(url)
    server = LiveServer(tmp_path, url)
    key = server.make_key("admin", ["admin"])
    server.start()
    try:
        kill_and_restart(server, key)
        graceful_stop_finishes_the_job_in_flight(server, key)
    finally:
        server.stop()


def graceful_stop_finishes_the_job_in_flight(server: LiveServer, key: str) -> None:
    """SIGINT: uvicorn stops, then the worker finishes its job (within the grace period)."""
    from qservice.db import Database
    from qservice.jobs import store

    with Client(server.url, key) as client:
        job = client.submit("solve", {"bqm": RING, "solver": "sa", "time_limit": 2, "seed": 5})
        _wait_running(client, job["id"])
    server.stop()
    assert server.process.returncode is not None
    db = Database(server.settings())
    done = store.get_job(db, job["id"])
    db.dispose()
    assert done.status == "succeeded" and done.attempts == 1, (done.status, done.error)


def test_a_job_out_of_attempts_fails_with_the_reason(tmp_path):
    from qservice.db import Database
    from qservice.jobs import store
    from qservice.security import create_key

    server = LiveServer(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    db = Database(server.settings())
    db.migrate()
    with db.session() as s:
        key_id = 0
        create_key(s, "k", ["admin"])
        from qservice.models import ApiKey

        key_id = s.query(ApiKey).one().id
    job, _ = store.create_job(db, key_id, "solve", {"bqm": RING}, None, 10)
    assert store.claim(db, job.id, "w1", lease=-1.0) is not None  # a lease already expired
    assert store.reap(db, max_attempts=1) == [(job.id, "failed")]
    failed = store.get_job(db, job.id)
    assert failed.status == "failed" and "worker lost" in failed.error and "w1" in failed.error
    # the dead worker's late finish is refused: the lease is no longer its own
    assert not store.finish(db, job.id, "w1", "succeeded", result={})
    db.dispose()
