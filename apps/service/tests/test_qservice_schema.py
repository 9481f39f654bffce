"""Schemathesis against the running service's OpenAPI schema, with a fixed seed: no 5xx, no
response outside the schema, invalid data rejected, authentication not ignored.

The server runs without workers: generated jobs (up to an hour of solving each) only queue.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from qservice.testing import LiveServer

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    negative_data_rejection,
    ignored_auth,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("schema")
    server = LiveServer(folder, f"sqlite:///{folder / 'qservice.db'}")
    server.make_key("admin", ["admin"])
    # generous limits: the fuzzer's own request rate must not turn into 429s
    server.start(ready="/healthz", QSERVICE_WORKERS="0", QSERVICE_RATE_PER_SECOND="1000")
    yield server
    server.stop()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_the_api_keeps_its_schema(fuzzed, mode):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.keys['admin']}"}
    failures = []
    # first calls import what an endpoint needs (Flower for federated runs): not under test
    for path in ("/v1/solvers", "/v1/anomalies/detectors", "/v1/routing/routers"):
        httpx.get(fuzzed.url + path, headers=headers, timeout=120)
    httpx.post(fuzzed.url + "/v1/federated/runs", json={}, headers=headers, timeout=120)
    # /readyz is 503 here by design (no workers), which the not-a-server-error check would flag
    operations = [
        op for op in (r.ok() for r in schema.get_all_operations()) if op.path != "/readyz"
    ]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=5,
            derandomize=True,  # the fixed seed: the same cases every run
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(base_url=fuzzed.url, headers=headers, checks=CHECKS, timeout=120)

        try:
            check()
        except Unsatisfiable:  # no input to make invalid (GET /healthz): nothing to test
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
