"""Liveness, readiness and Prometheus metrics (no API key: they hold no listing data)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from serve.api.mix import served_mix
from serve.api.services import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="the process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="a model is loaded (503 until then)",
            responses={503: {"description": "no model loaded yet, or it failed to load"}})
async def readyz(services: ServicesDep) -> JSONResponse:
    clf = services.state.classifier
    if clf is None:
        reason = services.state.load_error or "the model is still loading"
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready", "model_version": clf.version})


@router.get("/metrics", summary="Prometheus metrics (text format)",
            response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(services: ServicesDep) -> Response:
    clf = services.state.classifier
    if clf is not None:  # the served mix as of this scrape (GET /v1/mix)
        answer = await asyncio.get_running_loop().run_in_executor(
            None, served_mix, clf, services.state.mixes_for(clf),
            services.settings.mix_min_rows)
        services.metrics.set_mix(answer["estimated_mix"], answer["interval"])
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
