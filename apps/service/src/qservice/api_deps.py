"""Request dependencies: the shared state, the caller's key (401), its scope (403) and its
rate (429), injected with ``Annotated[..., Depends(...)]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qservice.errors import Forbidden, ServiceError
from qservice.limits import retry_after
from qservice.security import Principal, authenticate

if TYPE_CHECKING:  # the worker imports the routers for their job kinds, not the app's state
    from qservice.state import ServiceState

# auto_error=False: we answer a missing key ourselves, as problem+json with WWW-Authenticate
bearer = HTTPBearer(auto_error=False, description="an API key from `qservice create-key`")


class RateLimited(ServiceError):
    status, title = 429, "Too many requests"


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[Any, Depends(get_state)]


def _principal(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    header = request.headers.get("authorization")
    with state.db.session() as s:
        principal = authenticate(s, header)
    wait = state.buckets.take(principal.key_id)
    if wait > 0:
        raise RateLimited(
            f"rate limit: over {state.settings.rate_per_second:g} requests/s for this key; "
            f"retry in {retry_after(wait)} s",
            headers={"Retry-After": retry_after(wait)},
        )
    return principal


def require(scope: str):  # type: ignore[no-untyped-def]
    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"scope: this key lacks {scope!r}; create a key with --scopes {scope}")
        return principal

    return check


Read = Annotated[Principal, Depends(require("read"))]
Jobs = Annotated[Principal, Depends(require("jobs"))]
Compute = Annotated[Principal, Depends(require("compute"))]
Predict = Annotated[Principal, Depends(require("predict"))]
Models = Annotated[Principal, Depends(require("models"))]
