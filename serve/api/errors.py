"""One JSON error shape for every failure, with the path of each field that was wrong.

    {"error": "validation_error", "message": "body.listings: List should have at most ...",
     "fields": [{"field": "body.listings", "message": "...", "type": "too_long"}],
     "request_id": "..."}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve.api.schemas import FORM_TAGS

log = logging.getLogger("contraband.api")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}


class ApiError(Exception):
    """An error the API reports on purpose; ``field`` names the offending input if any."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _HTTP_CODES.get(status, "error")
        self.field = field
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_body(
    request: Request, code: str, message: str, fields: list[dict[str, str]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    if extra:
        body.update(extra)
    body["request_id"] = request_id_of(request)
    return body


def field_path(loc: Iterable[Any]) -> str:
    """``("body", "listings", 3, "title")`` → ``"body.listings.3.title"``."""
    return ".".join(str(part) for part in loc)


def _validation_fields(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    fields = []
    for err in errors:
        loc = list(err.get("loc", ()))
        # drop the tag naming which request form (one listing / batch) was validated
        loc = [p for p in loc if p not in FORM_TAGS]
        fields.append({
            "field": field_path(loc) or "body",
            "message": str(err.get("msg", "invalid value")),
            "type": str(err.get("type", "value_error")),
        })
    return fields


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = _validation_fields(exc.errors())
    first = fields[0] if fields else {"field": "body", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}"
    if len(fields) > 1:
        message += f" (and {len(fields) - 1} more)"
    return JSONResponse(error_body(request, "validation_error", message, fields), status_code=422)


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    fields = [{"field": exc.field, "message": exc.message, "type": exc.code}] if exc.field else None
    message = f"{exc.field}: {exc.message}" if exc.field else exc.message
    return JSONResponse(
        error_body(request, exc.code, message, fields, exc.extra),
        status_code=exc.status, headers=exc.headers,
    )


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "error")
    fields = None
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        fields = [{"field": "body", "message": "not valid JSON in UTF-8", "type": "json_invalid"}]
    return JSONResponse(
        error_body(request, code, str(exc.detail), fields), status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc,
              extra={"request_id": request_id_of(request), "path": request.url.path})
    # Starlette sends this response from outside the middleware that adds the request id
    # header to every other answer, so it is added here
    request_id = request_id_of(request)
    return JSONResponse(
        error_body(request, "internal_error",
                   "internal error; the request id identifies it in the server log"),
        status_code=500, headers={"X-Request-ID": request_id} if request_id else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
