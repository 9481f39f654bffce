"""qflower / qfed: a federated DP-LoRA run as a job, its rounds streamed as job events.

The run uses qflower's ``LocalGrid`` (the real ServerApp and ClientApp logic, clients called
in the worker's process one after another) rather than Flower's Ray Simulation Engine: a
worker thread cannot host a Ray cluster per job, and the rounds, accountant and checkpoint are
the same code either way.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field, field_validator

from qservice.api_deps import Jobs, Read, State
from qservice.errors import InvalidInput, LimitExceeded
from qservice.jobs import store
from qservice.jobs.registry import JobContext, job_kind
from qservice.routes.common import JobOut, submit

router = APIRouter(prefix="/v1/federated", tags=["qflower"])

MAX_CLIENTS, MAX_ROUNDS = 100, 200
# keys that name files on the worker's disk are set by the service, never by a caller
SERVICE_KEYS = {"output-dir", "resume-from"}


class FederatedParams(BaseModel):
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="qflower run-config overrides (apps/flower/pyproject.toml lists each key)",
    )

    @field_validator("config")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        blocked = sorted(SERVICE_KEYS & set(value))
        if blocked:
            raise ValueError(f"{blocked[0]}: set by the service (each run has its own folder)")
        for key, limit in (("num-clients", MAX_CLIENTS), ("rounds", MAX_ROUNDS)):
            item = value.get(key)
            if isinstance(item, int) and not isinstance(item, bool) and item > limit:
                raise ValueError(f"{key}: {item} is over the service's limit of {limit}")
        return value


def run_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "runs" / job_id


def check_config(params: FederatedParams) -> None:
    """Refuse a bad run-config at submission, with qflower's own message."""
    from qfed.errors import InvalidConfig
    from qflower.config import parse_run_config

    import qservice.quiet_imports  # noqa: F401

    try:
        config, _ = parse_run_config({}, params.config)
    except (InvalidConfig, ValueError, TypeError) as exc:
        raise InvalidInput(f"config: {str(exc).splitlines()[0]}") from None
    if config.num_clients > MAX_CLIENTS:
        raise LimitExceeded(f"config.num-clients: over the service's limit of {MAX_CLIENTS}")


@job_kind("federated", FederatedParams, "a federated DP-LoRA run (qflower), rounds streamed")
def run_federated(params: FederatedParams, ctx: JobContext) -> dict[str, Any]:
    from qflower.client_app import build_client_app
    from qflower.config import parse_run_config
    from qflower.local import LocalGrid
    from qflower.server_app import run_server

    import qservice.quiet_imports  # noqa: F401  (flwr's import-time warnings)

    out = run_dir(ctx.data_dir, ctx.job_id)
    overrides = {**params.config, "output-dir": str(out)}
    config, _ = parse_run_config({}, overrides)
    grid = LocalGrid(
        build_client_app(),
        config.num_clients,
        node_config={"state-dir": str(out / "client-ledgers")},
    )
    sent = 0
    lock = threading.Lock()

    def echo(line: str) -> None:
        # after each round qflower rewrites report.json: stream the rows not sent yet
        nonlocal sent
        with lock:
            report = out / "report.json"
            rows = json.loads(report.read_text()).get("rounds", []) if report.exists() else []
            for row in rows[sent:]:
                ctx.progress(
                    {
                        "round": row.get("round"),
                        "rounds": config.rounds,
                        "accuracy": row.get("accuracy"),
                        "loss": row.get("loss"),
                        "epsilon_max": row.get("epsilon_max"),
                        "epsilon_mean": row.get("epsilon_mean"),
                    },
                    kind="round",
                )
                ctx.progress({"round": row.get("round"), "rounds": config.rounds})
            sent = len(rows)
            ctx.check()

    report = run_server(grid, {}, overrides, echo=echo)
    echo("")
    return {
        "final": report.get("final", {}),
        "rounds": report.get("rounds", []),
        "output_dir": str(out),
    }


@router.post("/runs", status_code=202, response_model=JobOut)
def start_run(
    body: FederatedParams,
    state: State,
    principal: Jobs,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Start a federated run (job kind ``federated``); follow its rounds on
    GET /v1/jobs/{id}/events (event ``round``: accuracy and epsilon)."""
    check_config(body)
    return submit(state, principal, "federated", body, idempotency_key, response)


@router.get("/runs", response_model=list[JobOut])
def list_runs(state: State, principal: Read) -> list[JobOut]:
    rows, _ = store.list_jobs(state.db, 50, None, None, "federated", principal.owner_filter)
    return [JobOut(**store.job_dict(j)) for j in rows]
