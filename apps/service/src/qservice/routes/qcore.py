"""qcore: solve a QUBO/Ising model (BQM JSON in, SampleSet + solver provenance out), sync for
small models and as a job for large ones; G-set files from the dashboard."""

from __future__ import annotations

import math
import tempfile
from collections import deque
from pathlib import Path
from typing import Annotated, Any, Literal

import dimod
import qcore
import qcore.io
from fastapi import APIRouter, File, Form, Header, Response, UploadFile
from pydantic import BaseModel, Field, field_validator, model_validator

from qservice.api_deps import Compute, Jobs, Read, State
from qservice.errors import InvalidInput, LimitExceeded
from qservice.jobs.registry import JobContext, job_kind
from qservice.routes.common import JobOut, package_errors, submit

router = APIRouter(prefix="/v1", tags=["qcore"])

SYNC_MAX_VARIABLES, JOB_MAX_VARIABLES = 2_000, 20_000
SYNC_MAX_INTERACTIONS, JOB_MAX_INTERACTIONS = 50_000, 500_000
SYNC_MAX_SECONDS, JOB_MAX_SECONDS = 30.0, 3_600.0
Finite = Annotated[float, Field(allow_inf_nan=False)]
Label = Annotated[str, Field(min_length=1, max_length=100)]
# recent solver runs for the dashboard (this process's; jobs are in the store)
RECENT: deque[dict[str, Any]] = deque(maxlen=50)


class BQMIn(BaseModel):
    """A binary quadratic model: ``E = offset + sum linear[v] x_v + sum bias x_u x_v``."""

    vartype: Literal["SPIN", "BINARY"]
    linear: dict[Label, Finite] = Field(default_factory=dict)
    quadratic: list[tuple[Label, Label, Finite]] = Field(
        default_factory=list, description="[u, v, bias] triples, u != v"
    )
    offset: Finite = 0.0

    @field_validator("quadratic")
    @classmethod
    def _no_self_loops(cls, value: list) -> list:
        for i, (u, v, _) in enumerate(value):
            if u == v:
                raise ValueError(f"quadratic[{i}]: {u!r} is coupled to itself; put it in linear")
        return value

    def check_size(self, max_variables: int, max_interactions: int) -> None:
        names = (
            set(self.linear) | {u for u, _, _ in self.quadratic} | {v for _, v, _ in self.quadratic}
        )
        if len(names) > max_variables:
            raise LimitExceeded(
                f"bqm: {len(names)} variables, over this endpoint's limit of {max_variables}; "
                "submit a job (POST /v1/solve/jobs) or split the model"
            )
        if len(self.quadratic) > max_interactions:
            raise LimitExceeded(
                f"bqm.quadratic: {len(self.quadratic)} interactions, over this endpoint's limit "
                f"of {max_interactions}"
            )

    def to_bqm(self) -> dimod.BinaryQuadraticModel:
        bqm = dimod.BinaryQuadraticModel(self.vartype)
        bqm.add_linear_from(self.linear)
        bqm.add_quadratic_from((u, v, b) for u, v, b in self.quadratic)
        bqm.offset = self.offset
        return bqm


class SolveRequest(BaseModel):
    bqm: BQMIn
    solver: str = Field("auto", max_length=50, description="a name from GET /v1/solvers")
    fallback: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=8)
    time_limit: float | None = Field(None, gt=0, le=SYNC_MAX_SECONDS)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    params: dict[str, Any] = Field(default_factory=dict, description="the solver's parameters")
    return_samples: int = Field(10, ge=1, le=1000, description="lowest-energy rows returned")


class SolveJobParams(SolveRequest):
    time_limit: float | None = Field(None, gt=0, le=JOB_MAX_SECONDS)
    gset_name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _size(self) -> SolveJobParams:
        self.bqm.check_size(JOB_MAX_VARIABLES, JOB_MAX_INTERACTIONS)
        return self


class AttemptOut(BaseModel):
    solver: str
    error_type: str
    message: str


class SolveOut(BaseModel):
    solver: str = Field(description="the solver whose samples these are")
    energy: float
    sample: dict[str, int]
    proven_optimal: bool
    wall_s: float
    attempts: list[AttemptOut] = Field(description="solvers that failed first, in order")
    sampleset: dict[str, Any] = Field(description="dimod SampleSet.to_serializable()")
    cut: float | None = None


class SolverOut(BaseModel):
    name: str
    available: bool
    detail: str


def run_solve(request: SolveRequest, ctx: JobContext | None = None) -> dict[str, Any]:
    bqm = request.bqm.to_bqm()
    with package_errors(qcore.InvalidProblem, qcore.UnknownSolver, qcore.ProblemTooLarge):
        result = qcore.solve(
            bqm,
            solver=request.solver,
            fallback=request.fallback,
            time_limit=request.time_limit,
            seed=request.seed,
            **request.params,
        )
    rows = result.sampleset.truncate(request.return_samples)
    out = SolveOut(
        solver=result.solver,
        energy=result.energy,
        sample={str(k): int(v) for k, v in result.sample.items()},
        proven_optimal=result.proven_optimal,
        wall_s=result.wall_s,
        attempts=[
            AttemptOut(solver=a.solver, error_type=a.error_type, message=a.message)
            for a in result.attempts
        ],
        sampleset=rows.to_serializable(),
    )
    if isinstance(request, SolveJobParams) and request.gset_name:
        # a G-set model has J = w, so the cut is (W - E) / 2 with W the total weight
        total = sum(b for _, _, b in request.bqm.quadratic)
        out.cut = (total - result.energy) / 2
    RECENT.appendleft(
        {"solver": out.solver, "energy": out.energy, "wall_s": out.wall_s, "n": len(bqm)}
    )
    return out.model_dump(mode="json")


@job_kind("solve", SolveJobParams, "qcore.solve on a BQM (up to 20,000 variables, 1 hour)")
def solve_job(params: SolveJobParams, ctx: JobContext) -> dict[str, Any]:
    ctx.progress({"stage": "solving", "variables": len(params.bqm.linear)})
    return run_solve(params, ctx)


@router.get("/solvers", response_model=list[SolverOut])
def solvers(principal: Read) -> list[SolverOut]:
    return [
        SolverOut(name=info.name, available=info.available, detail=str(info.reason or ""))
        for info in qcore.list_solvers()
    ]


@router.post("/solve", response_model=SolveOut)
def solve(body: SolveRequest, principal: Compute) -> dict[str, Any]:
    """Solve now (at most 2,000 variables, 50,000 interactions, 30 s); larger: /v1/solve/jobs."""
    body.bqm.check_size(SYNC_MAX_VARIABLES, SYNC_MAX_INTERACTIONS)
    return run_solve(body)


@router.post("/solve/jobs", status_code=202, response_model=JobOut)
def solve_as_job(
    body: SolveJobParams,
    state: State,
    principal: Jobs,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    return submit(state, principal, "solve", body, idempotency_key, response)


@router.post("/solve/gset", status_code=202, response_model=JobOut)
async def solve_gset(
    state: State,
    principal: Jobs,
    response: Response,
    file: Annotated[UploadFile, File(description="a G-set (rudy) max-cut file")],
    solver: Annotated[str, Form(max_length=50)] = "auto",
    time_limit: Annotated[float, Form(gt=0, le=JOB_MAX_SECONDS)] = 5.0,
    seed: Annotated[int, Form(ge=0, le=2**32 - 1)] = 0,
) -> JobOut:
    """Max-cut of an uploaded G-set file as a solve job (the dashboard's upload)."""
    data = await file.read()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(file.filename or "upload").name or "upload")
        path.write_bytes(data)
        with package_errors(qcore.InvalidProblem):
            instance = qcore.io.read_gset(path, max_variables=JOB_MAX_VARIABLES)
    if instance.m > JOB_MAX_INTERACTIONS:
        raise LimitExceeded(f"file: {instance.m} edges, over the limit of {JOB_MAX_INTERACTIONS}")
    bqm = BQMIn(
        vartype="SPIN",
        linear={str(i): 0.0 for i in range(instance.n)},
        quadratic=[
            (str(int(u)), str(int(v)), float(w))
            for (u, v), w in zip(instance.edges, instance.weights, strict=True)
        ],
    )
    if not math.isfinite(time_limit):
        raise InvalidInput("time_limit: give a finite number of seconds")
    params = SolveJobParams(
        bqm=bqm, solver=solver, time_limit=time_limit, seed=seed, gset_name=instance.name
    )
    return submit(state, principal, "solve", params, None, response)


@router.get("/solve/recent", response_model=list[dict[str, Any]])
def recent(principal: Read) -> list[dict[str, Any]]:
    """The last synchronous solves of this process (solve jobs are in GET /v1/jobs)."""
    return list(RECENT)
