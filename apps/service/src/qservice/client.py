"""``qservice.Client``: the service from Python (httpx), errors raised as ServiceCallError."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

TERMINAL = ("succeeded", "failed", "cancelled")


class ServiceCallError(RuntimeError):
    """A non-2xx answer: ``status`` and the problem+json body (``problem``)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or ""
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.problem = problem


class Client:
    """``Client("http://127.0.0.1:8000", api_key)``; usable as a context manager."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        response = self.http.request(method, path, **kw)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:200]}
            raise ServiceCallError(response.status_code, problem)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # ------------------------------------------------------------- capabilities
    def solve(self, bqm: dict[str, Any], solver: str = "auto", **kw: Any) -> dict[str, Any]:
        """``bqm``: {"vartype", "linear", "quadratic": [[u, v, bias]], "offset"}."""
        return self.request("POST", "/v1/solve", json={"bqm": bqm, "solver": solver, **kw})

    def route(self, scores: list[list[float]], router: str = "topk", **kw: Any) -> dict[str, Any]:
        return self.request(
            "POST", "/v1/routing/plans", json={"scores": scores, "router": router, **kw}
        )

    def anomalies(self, values: list[float], **kw: Any) -> dict[str, Any]:
        return self.request("POST", "/v1/anomalies", json={"values": values, **kw})

    def predict(self, model: str, texts: list[str], **kw: Any) -> dict[str, Any]:
        return self.request("POST", f"/v1/models/{model}/predict", json={"texts": texts, **kw})

    def register_model(self, name: str, job_id: str, *, timeout: float = 600.0) -> dict[str, Any]:
        """Register a succeeded federated job's model as the next version of ``name`` and wait
        for its ONNX export; ServiceCallError(409) if the export failed."""
        model = self.request("POST", "/v1/models", json={"name": name, "job_id": job_id})
        export = self.wait(model["info"]["export_job"], timeout=timeout, poll=0.5)
        if export["status"] != "succeeded":
            raise ServiceCallError(409, {"detail": f"export {export['status']}: {export['error']}"})
        return {**model, "export": export["result"]}

    # ------------------------------------------------------------- jobs
    def submit(
        self, kind: str, params: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request(
            "POST", "/v1/jobs", json={"kind": kind, "params": params}, headers=headers
        )

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def jobs(self, **query: Any) -> dict[str, Any]:
        return self.request("GET", "/v1/jobs", params=query)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/cancel")

    def wait(self, job_id: str, timeout: float = 300.0, poll: float = 0.2) -> dict[str, Any]:
        """Poll until the job is finished; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll)

    def events(self, job_id: str, timeout: float = 300.0) -> Iterator[dict[str, Any]]:
        """The job's Server-Sent Events as dicts, until it finishes."""
        with self.http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise ServiceCallError(response.status_code, response.json())
            event, data = "", ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif not line and event:
                    if event == "end":
                        return
                    yield json.loads(data)
                    event, data = "", ""
