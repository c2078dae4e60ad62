"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request):

* :class:`RequestContext` gives each request an id (the client's ``X-Request-ID`` when it is
  sane, else a new one), echoes it, times the request, counts it in the metrics and writes
  one JSON access-log line;
* :class:`BodyLimit` refuses bodies larger than the limit with 413 before the app reads them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from serve.api.metrics import Metrics

log = logging.getLogger("contraband.api")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
Scope = dict[str, Any]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


async def _send_json(send: Any, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        *(headers or []),
    ]})
    await send({"type": "http.response.body", "body": payload})


class RequestContext:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        text = given.decode("latin-1") if given else ""
        request_id = text if _SANE_ID.match(text) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=template, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=template).observe(elapsed)
            if status >= 400:
                kind = "server" if status >= 500 else "client"
                self.metrics.errors.labels(route=template, kind=kind).inc()
            log.info("request", extra={
                "request_id": request_id, "method": method, "path": scope.get("path"),
                "route": template, "status": status, "latency_ms": round(elapsed * 1000, 3),
                "key": state.get("principal"),
            })


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, scope: Scope, send: Any) -> None:
        await _send_json(send, 413, {
            "error": "payload_too_large",
            "message": f"the request body is larger than {self.max_bytes} bytes",
            "request_id": scope.get("state", {}).get("request_id"),
        })

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    await self._too_large(scope, send)
                    return
            except ValueError:
                pass  # the server rejects a malformed length itself
        # Read the body here (it is bounded), so a chunked body cannot exceed the limit either.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
