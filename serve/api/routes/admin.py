"""``POST /v1/admin/reload``: load the configured bundle again (SIGHUP does the same)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serve.api.schemas import COMMON_ERRORS, ReloadOut
from serve.api.security import AdminCaller
from serve.api.services import ServicesDep

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=COMMON_ERRORS)


@router.post(
    "/reload", response_model=ReloadOut,
    summary="reload the model bundle without dropping requests (admin)",
    responses={409: {"model": ReloadOut,
                     "description": "the bundle failed to load; the previous one still serves"}},
)
async def reload_model(
    _: AdminCaller,
    services: ServicesDep,
) -> JSONResponse:
    result = await services.state.reload()
    body = ReloadOut(reloaded=result.ok, version=result.version, previous=result.previous,
                     error=result.error, seconds=round(result.seconds, 4))
    return JSONResponse(body.model_dump(), status_code=200 if result.ok else 409)
