"""The app in process (no worker): auth, scopes, limits, problem+json, package adapters."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():  # starlette's TestClient imports anyio's deprecated alias
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from qservice.app import create_app
from qservice.config import Settings
from qservice.db import Database
from qservice.security import create_key

PROBLEM = "application/problem+json"
# starlette's TestClient still uses anyio's deprecated alias (third-party, not ours)
pytestmark = pytest.mark.filterwarnings(
    "ignore:The anyio.abc.BlockingPortal alias is deprecated:DeprecationWarning"
)


def _app(tmp_path, **overrides):  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", data_dir=tmp_path / "data", **overrides
    )
    db = Database(settings)
    db.migrate()
    keys = {}
    with db.session() as s:
        keys["admin"] = create_key(s, "admin", ["admin"])
        keys["compute"] = create_key(s, "compute", ["compute"])
    db.dispose()
    return TestClient(create_app(settings)), keys


@pytest.fixture(scope="module")
def api(tmp_path_factory):  # type: ignore[no-untyped-def]
    client, keys = _app(tmp_path_factory.mktemp("api"))
    with client:
        yield client, keys


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_missing_or_bad_key_is_401_with_www_authenticate(api):
    client, keys = api
    for headers in ({}, {"Authorization": "Basic abc"}, auth("qs_0000000000000000_nope")):
        response = client.get("/v1/jobs", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["status"] == 401 and "Authorization" in body["detail"]
    # a real prefix with a wrong secret is refused too
    prefix = keys["admin"].split("_")[1]
    assert client.get("/v1/jobs", headers=auth(f"qs_{prefix}_guess")).status_code == 401


def test_missing_scope_is_403_naming_it(api):
    client, keys = api
    response = client.get("/v1/jobs", headers=auth(keys["compute"]))
    assert response.status_code == 403 and "'read'" in response.json()["detail"]


def test_keys_are_stored_hashed(tmp_path):
    from sqlalchemy import select

    from qservice.models import ApiKey

    db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}"))
    db.migrate()
    with db.session() as s:
        key = create_key(s, "x", ["read"])
        row = s.scalar(select(ApiKey))
    assert key.split("_", 2)[2] not in row.secret_hash and key not in row.secret_hash
    assert len(row.secret_hash) == 64
    db.dispose()


def test_body_over_the_limit_is_413(tmp_path):
    client, keys = _app(tmp_path, max_body_bytes=1024)
    with client:
        response = client.post(
            "/v1/anomalies", headers=auth(keys["admin"]), json={"values": [1.0] * 1000}
        )
        assert response.status_code == 413 and response.headers["content-type"] == PROBLEM

        def chunks():  # type: ignore[no-untyped-def]
            yield b'{"values": ['
            for _ in range(300):
                yield b"1.0, 1.0, 1.0, "
            yield b"1.0]}"

        streamed = client.post(
            "/v1/anomalies",
            headers={**auth(keys["admin"]), "content-type": "application/json"},
            content=chunks(),
        )
        assert streamed.status_code == 413


def test_rate_limit_is_429_with_retry_after(tmp_path):
    client, keys = _app(tmp_path, rate_per_second=0.001, rate_burst=3)
    with client:
        codes = [client.get("/v1/solvers", headers=auth(keys["admin"])) for _ in range(5)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    assert codes[3].status_code == 429 and int(codes[3].headers["retry-after"]) >= 1
    assert codes[3].headers["content-type"] == PROBLEM


def test_cors_is_off_by_default(api):
    client, _ = api
    response = client.options(
        "/v1/solvers",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_solve_returns_sampleset_and_provenance(api):
    client, keys = api
    bqm = {"vartype": "BINARY", "linear": {"x": -1, "y": -1}, "quadratic": [["x", "y", 2]]}
    response = client.post(
        "/v1/solve", headers=auth(keys["admin"]), json={"bqm": bqm, "solver": "exact"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["energy"] == pytest.approx(-1.0) and body["proven_optimal"]
    assert body["solver"] == "exact" and body["attempts"] == []
    import dimod

    sampleset = dimod.SampleSet.from_serializable(body["sampleset"])
    assert sampleset.first.energy == pytest.approx(-1.0)


def test_solve_bounds_and_bad_input_are_422_naming_the_field(api):
    client, keys = api
    big = {"vartype": "SPIN", "linear": {f"v{i}": 0.0 for i in range(2001)}}
    cases = [
        ({"bqm": big}, "2000"),
        ({"bqm": {"vartype": "SPIN", "quadratic": [["a", "a", 1.0]]}}, "quadratic"),
        ({"bqm": {"vartype": "SPIN", "linear": {"a": 1}}, "solver": "nope"}, "solver"),
        ({"bqm": {"vartype": "SPIN", "linear": {"a": 1}}, "time_limit": 31}, "time_limit"),
        ({"bqm": {"vartype": "SPIN", "linear": {"a": 1}}, "params": {"bogus": 1}}, "bogus"),
    ]
    for body, needle in cases:
        response = client.post("/v1/solve", headers=auth(keys["admin"]), json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert needle in response.json()["detail"], response.json()
    nan = client.post(
        "/v1/solve",
        headers={**auth(keys["admin"]), "content-type": "application/json"},
        content=b'{"bqm": {"vartype": "SPIN", "linear": {"a": NaN}}}',
    )
    assert nan.status_code == 422


def test_routing_plan_through_qrouting(api):
    client, keys = api
    import numpy as np

    scores = np.random.default_rng(0).standard_normal((64, 4)).tolist()
    body = {"scores": scores, "router": "balanced", "k": 1, "capacity_factor": 1.0}
    response = client.post("/v1/routing/plans", headers=auth(keys["admin"]), json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["metrics"]["max_vio"] == 0.0 and max(plan["loads"]) <= plan["capacity"]
    ragged = client.post(
        "/v1/routing/plans", headers=auth(keys["admin"]), json={"scores": [[1, 2], [3]]}
    )
    assert ragged.status_code == 422 and "scores" in ragged.json()["detail"]


def test_anomalies_through_qops_default_detector(api):
    client, keys = api
    import numpy as np

    values = np.sin(np.arange(400) / 10.0) + np.random.default_rng(1).normal(0, 0.01, 400)
    values[300] = 25.0
    body = {"values": values.tolist(), "threshold": 0.5}
    response = client.post("/v1/anomalies", headers=auth(keys["admin"]), json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert len(out["scores"]) == 400 and 300 in out["anomalies"]
    bad = client.post(
        "/v1/anomalies", headers=auth(keys["admin"]), json={"values": [1, 2], "detector": "x"}
    )
    assert bad.status_code == 422 and "detector" in bad.json()["detail"]


def test_health_and_metrics(api):
    client, _ = api
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["failing"] == ["workers"]  # none here
    text = client.get("/metrics").text
    assert "qservice_http_requests_total" in text and 'qservice_jobs{status="queued"}' in text


def test_fabric_mapping_through_qnvlink(api):
    client, keys = api
    traffic = [[0.0 if i == j else 1e9 for j in range(8)] for i in range(8)]
    body = {"fabric": "dgx-h100", "traffic": traffic, "method": "greedy"}
    response = client.post("/v1/fabric/mappings", headers=auth(keys["admin"]), json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    gpus = [row["gpu"] for row in plan["mapping"]]
    assert [row["rank"] for row in plan["mapping"]] == list(range(8)) and len(set(gpus)) == 8
    bad = client.post(
        "/v1/fabric/mappings",
        headers=auth(keys["admin"]),
        json={**body, "fabric": "nope"},
    )
    assert bad.status_code == 422 and "builder" in bad.json()["detail"]


def test_tensor_round_trip_through_qcompress(api):
    client, keys = api
    import numpy as np

    values = np.random.default_rng(2).standard_normal(256).tolist()
    body = {"values": values, "shape": [16, 16], "method": "int8"}
    packed = client.post("/v1/tensors/compress", headers=auth(keys["admin"]), json=body)
    assert packed.status_code == 200, packed.text
    out = packed.json()
    assert out["compressed_bytes"] < out["original_bytes"] and out["rel_l2"] < 0.02
    back = client.post(
        "/v1/tensors/decompress", headers=auth(keys["admin"]), json={"container": out["container"]}
    )
    assert back.status_code == 200 and back.json()["shape"] == [16, 16]
    assert np.allclose(back.json()["values"], values, atol=out["max_abs"] + 1e-6)
    forged = client.post(
        "/v1/tensors/decompress", headers=auth(keys["admin"]), json={"container": "AAAAAAAA"}
    )
    assert forged.status_code == 422


def test_study_ask_tell_best_through_qhpo(api):
    client, keys = api
    h = auth(keys["admin"])
    space = {"x": {"type": "float", "low": -2.0, "high": 2.0}}
    study = client.post("/v1/studies", headers=h, json={"space": space, "optimizer": "random"})
    assert study.status_code == 201, study.text
    sid = study.json()["id"]
    for _ in range(4):
        trial = client.post(f"/v1/studies/{sid}/ask", headers=h).json()
        x = trial["params"]["x"]
        told = client.post(
            f"/v1/studies/{sid}/tell", headers=h, json={"number": trial["number"], "value": x * x}
        )
        assert told.status_code == 200 and told.json()["state"] == "complete"
    best = client.get(f"/v1/studies/{sid}/best", headers=h).json()
    assert -2.0 <= best["params"]["x"] <= 2.0 and best["value"] == pytest.approx(
        best["params"]["x"] ** 2
    )
    again = client.post(f"/v1/studies/{sid}/tell", headers=h, json={"number": 0, "value": 1.0})
    assert again.status_code == 422 and "already told" in again.json()["detail"]
    bad = client.post("/v1/studies", headers=h, json={"space": {"x": {"type": "nope"}}})
    assert bad.status_code == 422


def test_energy_schedule_through_qenergy(api):
    client, keys = api
    jobs = [
        {
            "job_id": f"j{i}",
            "gpus": 2,
            "duration_s": 600,
            "submit_s": 0,
            "deadline_s": 4000,
            "power_w": 800,
        }
        for i in range(4)
    ]
    cluster = {"gpus": 4, "power_budget_w": 2000}
    body = {"jobs": jobs, "cluster": cluster, "method": "list"}
    response = client.post("/v1/energy/schedules", headers=auth(keys["admin"]), json=body)
    assert response.status_code == 200, response.text
    missing = [{k: v for k, v in j.items() if k != "power_w"} for j in jobs]
    bad = client.post(
        "/v1/energy/schedules", headers=auth(keys["admin"]), json={**body, "jobs": missing}
    )
    assert bad.status_code == 422 and "power_w" in bad.json()["detail"]


def test_ensemble_selection_through_qensemble(api):
    client, keys = api
    import numpy as np

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    probs = []
    for quality in (0.9, 0.85, 0.6, 0.55, 0.5):
        right = rng.random(40) < quality
        pred = np.where(right, labels, 1 - labels)
        probs.append([[0.9, 0.1] if p == 0 else [0.1, 0.9] for p in pred])
    body = {"probs": probs, "labels": labels.tolist(), "k": 2, "method": "qubo"}
    response = client.post("/v1/ensembles/selections", headers=auth(keys["admin"]), json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert len(out["members"]) == 2 and 0.0 <= out["val_accuracy"] <= 1.0
    bad = client.post(
        "/v1/ensembles/selections", headers=auth(keys["admin"]), json={**body, "k": 9}
    )
    assert bad.status_code == 422
