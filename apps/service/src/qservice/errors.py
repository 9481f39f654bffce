"""Errors as data: our exception classes and their RFC 9457 problem+json responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


class ServiceError(Exception):
    """An error with an HTTP status; ``detail`` is one line naming the field and the fix."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class InvalidInput(ServiceError, ValueError):
    status, title = 422, "Invalid input"


class LimitExceeded(InvalidInput):
    """A problem larger than the endpoint's bound (the message names the limit)."""


class Unauthorized(ServiceError, PermissionError):
    status, title = 401, "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="qservice"'})


class Forbidden(ServiceError, PermissionError):
    status, title = 403, "Forbidden"


class NotFound(ServiceError, LookupError):
    status, title = 404, "Not found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class Overloaded(ServiceError, RuntimeError):
    status, title = 503, "Service overloaded"


class ConfigError(ValueError):
    """A bad setting or command-line value (the CLI prints it as one line, exit 2)."""


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def _problem_doc(text: str) -> dict[str, Any]:
    return {"description": text, "model": Problem, "content": {PROBLEM: {}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_doc("the body is not parseable (not JSON, not a form)"),
    401: _problem_doc("missing or bad API key (WWW-Authenticate: Bearer)"),
    403: _problem_doc("the key lacks the endpoint's scope"),
    404: _problem_doc("no such resource"),
    413: _problem_doc("request body over the limit"),
    422: _problem_doc("invalid input, or over the endpoint's size bounds"),
    429: _problem_doc("rate limit reached (Retry-After)"),
    503: _problem_doc("overloaded (Retry-After)"),
}


def problem(status: int, title: str, detail: str, instance: str = "", **extra: Any) -> dict:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(
    status: int, title: str, detail: str, request: Request | None = None, **kw: Any
) -> JSONResponse:
    headers = kw.pop("headers", None)
    instance = request.url.path if request is not None else ""
    return JSONResponse(
        problem(status, title, detail, instance, **kw),
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def _location(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, request, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _location(e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        return problem_response(422, "Invalid input", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}
        return problem_response(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail),
            request,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the message of an unexpected error may hold anything: log it, return nothing of it
        import logging

        logging.getLogger("qservice").exception("unhandled error on %s", request.url.path)
        return problem_response(500, "Internal error", "an unexpected error; see the log", request)
