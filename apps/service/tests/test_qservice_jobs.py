"""Jobs against the running service: 202 + id, status, SSE progress, paging, cancel,
Idempotency-Key semantics."""

from __future__ import annotations

import uuid

import pytest

from qservice import ServiceCallError

SMALL = {"vartype": "SPIN", "linear": {"a": 1.0}, "quadratic": [["a", "b", -1.0]]}


def test_a_job_is_accepted_runs_and_streams_its_progress(client):
    response = client.http.post(
        "/v1/jobs", json={"kind": "solve", "params": {"bqm": SMALL, "solver": "exact"}}
    )
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running", "succeeded")
    events = list(client.events(job["id"], timeout=120))
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    done = client.job(job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["energy"] == pytest.approx(-2.0)
    assert done["result"]["proven_optimal"] is True


def test_idempotency_key_same_body_same_job_other_body_422(client):
    key = str(uuid.uuid4())
    params = {"bqm": SMALL, "solver": "exact", "seed": 1}
    first = client.submit("solve", params, idempotency_key=key)
    again = client.http.post(
        "/v1/jobs",
        json={"kind": "solve", "params": params},
        headers={"Idempotency-Key": key},
    )
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    with pytest.raises(ServiceCallError) as info:
        client.submit("solve", {**params, "seed": 2}, idempotency_key=key)
    assert info.value.status == 422 and "Idempotency-Key" in info.value.problem["detail"]


def test_paging_walks_every_job_once(client):
    ids = {client.submit("solve", {"bqm": SMALL, "solver": "exact"})["id"] for _ in range(5)}
    seen, cursor = [], None
    while True:
        page = client.jobs(limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and ids <= set(seen)
    with pytest.raises(ServiceCallError) as info:
        client.jobs(cursor="not-a-cursor")
    assert info.value.status == 422


def test_cancel_a_running_job(client):
    job = client.submit("solve", {"bqm": SMALL, "solver": "sa", "time_limit": 5})
    for event in client.events(job["id"], timeout=60):
        if event.get("status") == "running":
            break
    client.cancel(job["id"])
    done = client.wait(job["id"], timeout=60)
    # qcore.solve cannot be interrupted: the job ends as cancelled when the solve returns
    assert done["status"] == "cancelled"


def test_unknown_kind_and_bad_params_are_422_naming_the_field(client):
    with pytest.raises(ServiceCallError) as info:
        client.submit("nope", {})
    assert info.value.status == 422 and "kind" in info.value.problem["detail"]
    with pytest.raises(ServiceCallError) as info:
        client.submit("solve", {"bqm": {**SMALL, "vartype": "INTEGER"}})
    assert info.value.status == 422 and "vartype" in info.value.problem["detail"]
    with pytest.raises(ServiceCallError) as info:
        client.job("0" * 36)
    assert info.value.status == 404
    # a model version's export is made by POST /v1/models, never submitted directly
    with pytest.raises(ServiceCallError) as info:
        client.submit("model_export", {"name": "x", "version": 1})
    assert info.value.status == 422 and "model_export" in info.value.problem["detail"]
    kinds = {k["name"] for k in client.request("GET", "/v1/jobs/kinds")}
    assert {"solve", "federated", "attention_heads", "ensemble_training"} <= kinds
    assert "model_export" not in kinds


def test_reader_cannot_create_jobs(live):
    from qservice import Client

    with Client(live.url, live.keys["reader"]) as reader:
        assert reader.jobs(limit=1)["items"] is not None
        with pytest.raises(ServiceCallError) as info:
            reader.submit("solve", {"bqm": SMALL})
    assert info.value.status == 403 and "jobs" in info.value.problem["detail"]


def test_a_key_sees_only_its_own_jobs_unless_it_is_admin(live):
    from qservice import Client

    alice = live.make_key("alice", ["read", "jobs", "models"])
    bob = live.make_key("bob", ["read", "jobs", "models"])
    with Client(live.url, alice) as a, Client(live.url, bob) as b:
        job = a.submit("solve", {"bqm": SMALL, "solver": "exact", "seed": 11})
        mine = b.submit("solve", {"bqm": SMALL, "solver": "exact", "seed": 12})
        assert a.job(job["id"])["id"] == job["id"]
        assert job["id"] in {j["id"] for j in a.jobs(limit=200)["items"]}
        seen_by_bob = {j["id"] for j in b.jobs(limit=200)["items"]}
        assert job["id"] not in seen_by_bob and mine["id"] in seen_by_bob
        # another key's job is 404 everywhere, like a missing one
        for call in (
            lambda: b.job(job["id"]),
            lambda: b.cancel(job["id"]),
            lambda: list(b.events(job["id"], timeout=30)),
            lambda: b.request("POST", "/v1/models", json={"name": "x", "job_id": job["id"]}),
        ):
            with pytest.raises(ServiceCallError) as info:
                call()
            assert info.value.status == 404, info.value.problem
        # the same Idempotency-Key under another key is another key's own request
        key = str(uuid.uuid4())
        first = a.submit("solve", {"bqm": SMALL, "solver": "exact"}, idempotency_key=key)
        other = b.submit("solve", {"bqm": SMALL, "solver": "exact"}, idempotency_key=key)
        assert first["id"] != other["id"]
    with Client(live.url, live.keys["admin"]) as admin:
        assert admin.job(job["id"])["id"] == job["id"]
        every = {j["id"] for j in admin.jobs(limit=200)["items"]}
        assert {job["id"], mine["id"]} <= every
