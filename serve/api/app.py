"""``create_app(settings=None, classifier=None)``: the moderators' HTTP API.

    uvicorn --factory serve.api:create_app          # settings from CONTRABAND_* variables
    create_app(Settings(auth="off"), classifier=clf) # tests inject a model

Without ``classifier`` the configured bundle is loaded in the background after startup:
``/healthz`` answers at once, ``/readyz`` says 503 until the model is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

import model
from model import Classifier
from serve.api import logs
from serve.api.auth import KeyStore, parse_keys_env, read_keys_file
from serve.api.batching import MicroBatcher
from serve.api.errors import install_error_handlers
from serve.api.feedback import FeedbackStore
from serve.api.metrics import Metrics
from serve.api.middleware import BodyLimit, RequestContext
from serve.api.overrides import ThresholdOverrides
from serve.api.ratelimit import RateLimiter
from serve.api.routes import admin, classify, feedback, health, model_card
from serve.api.routes.common import single_query_values
from serve.api.schemas import build_request_models
from serve.api.services import Services
from serve.api.settings import Settings
from serve.api.state import ModelState

log = logging.getLogger("contraband.api")
AUTH_OFF_WARNING = (
    "WARNING: API authentication is OFF (CONTRABAND_AUTH=off / --no-auth). Anyone who can "
    "reach this port can classify, send feedback, change thresholds and reload the model. "
    "Use this only on your own machine."
)

DESCRIPTION = """Classify marketplace listings as drugs, weapons, counterfeit, stolen_data or
benign, record moderators' verdicts, and operate the served model.

Authenticate with `X-API-Key: KEY` or `Authorization: Bearer KEY`; keys have the roles
`classify`, `feedback` and/or `admin`. Errors are JSON: `error`, `message`, `fields` (the path
of each bad field) and `request_id` (also in the `X-Request-ID` header)."""


def load_keys(settings: Settings) -> KeyStore:
    """The configured keys; with auth on, none at all is a configuration error."""
    if not settings.auth_enabled:
        return KeyStore([])
    store = KeyStore(read_keys_file(settings.api_keys_file) + parse_keys_env(settings.api_keys))
    if not len(store):
        raise ValueError(
            f"authentication is on but no API keys are configured (looked in "
            f"{settings.api_keys_file} and CONTRABAND_API_KEYS). Create one with "
            f"`contraband apikey create --roles classify feedback`, or start with --no-auth "
            f"(CONTRABAND_AUTH=off) for local development."
        )
    return store


def _private_copy(clf: Classifier) -> Classifier:
    """A classifier sharing ``clf``'s model but with its own thresholds and config, so the
    API's threshold changes never leak into the caller's object."""
    return Classifier(clf.model, clf.labels, thresholds=clf.thresholds,
                      config=dict(clf.config), path=clf.path)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    settings = services.settings
    loop = asyncio.get_running_loop()
    services.feedback = await loop.run_in_executor(None, FeedbackStore, settings.feedback_db)
    await services.batcher.start()
    background: set[asyncio.Task] = set()

    def reload_soon() -> None:
        task = loop.create_task(services.state.reload())
        background.add(task)
        task.add_done_callback(background.discard)

    if services.state.classifier is None:
        reload_soon()
    sighup = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP")
    if sighup:
        loop.add_signal_handler(signal.SIGHUP, reload_soon)
    if not settings.auth_enabled:
        log.warning(AUTH_OFF_WARNING)
    log.info("api started", extra={"model": settings.model, "auth": settings.auth,
                                   "feedback_db": str(settings.feedback_db), "sighup": sighup})
    try:
        yield
    finally:
        if sighup:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in list(background):
            task.cancel()
        await services.batcher.stop()
        services.feedback.close()


def create_app(settings: Settings | None = None, classifier: Classifier | None = None) -> FastAPI:
    settings = settings or Settings()
    logs.configure(settings.log_level)
    metrics = Metrics()
    overrides = ThresholdOverrides(settings.thresholds_file)  # type: ignore[arg-type]
    state = ModelState(settings, metrics, overrides,
                       None if classifier is None else _private_copy(classifier))
    batcher = MicroBatcher(state.predict_batch, max_listings=settings.batch_max_listings,
                           wait_s=settings.batch_wait_ms / 1000.0,
                           concurrency=settings.inference_threads)
    services = Services(settings=settings, keys=load_keys(settings),
                        limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
                        metrics=metrics, overrides=overrides, state=state, batcher=batcher)

    app = FastAPI(title="contraband API", version=model.__version__, description=DESCRIPTION,
                  lifespan=_lifespan, dependencies=[Depends(single_query_values)])
    app.state.services = services
    install_error_handlers(app)
    models = build_request_models(settings)
    app.include_router(health.router)
    app.include_router(classify.build_router(models))
    app.include_router(model_card.router)
    app.include_router(feedback.build_router(models))
    app.include_router(admin.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=metrics)  # outermost: ids and timing for all
    if not settings.auth_enabled:
        print(AUTH_OFF_WARNING, file=sys.stderr)
    return app
