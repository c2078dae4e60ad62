"""FastAPI dependencies that authenticate the caller, check its role and its rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serve.api.auth import ANONYMOUS, ROLES, Principal
from serve.api.errors import ApiError
from serve.api.ratelimit import retry_after_header

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key (`contraband apikey create`)"
)
bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers holding ``role`` (every caller when auth is off)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_header)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        services = request.app.state.services
        if not services.settings.auth_enabled:
            principal = ANONYMOUS
        else:
            presented = api_key or (credentials.credentials if credentials else None)
            if not presented:
                raise ApiError(401, "an API key is required: send it as X-API-Key or "
                               "'Authorization: Bearer KEY'",
                               headers={"WWW-Authenticate": "Bearer"})
            key = services.keys.authenticate(presented)
            if key is None:
                raise ApiError(401, "the API key is not valid",
                               headers={"WWW-Authenticate": "Bearer"})
            principal = Principal(key.name, key.roles, True, key.rate_limit_per_s)
        request.scope.setdefault("state", {})["principal"] = principal.name
        if role not in principal.roles:
            raise ApiError(403, f"the API key {principal.name!r} lacks the {role!r} role")
        if principal.authenticated:
            wait = services.limiter.check(principal.name, principal.rate_limit_per_s)
            if wait > 0:
                services.metrics.rate_limited.labels(key=principal.name).inc()
                raise ApiError(429, f"rate limit exceeded for key {principal.name!r}; "
                               f"retry in {wait:.2f} s",
                               headers={"Retry-After": retry_after_header(wait)})
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


ClassifyCaller = Annotated[Principal, Depends(require("classify"))]
FeedbackCaller = Annotated[Principal, Depends(require("feedback"))]
AdminCaller = Annotated[Principal, Depends(require("admin"))]
