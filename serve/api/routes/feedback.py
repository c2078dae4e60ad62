"""``POST /v1/feedback``: a moderator's verdict, committed to SQLite before the reply."""

# no ``from __future__ import annotations``: FastAPI must see the request model built at
# run time (a local variable) as a real type, not as a string it cannot resolve.
import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body

from serve.api.errors import ApiError
from serve.api.feedback import Verdict
from serve.api.schemas import COMMON_ERRORS, FeedbackOut, RequestModels
from serve.api.security import FeedbackCaller
from serve.api.services import ServicesDep

EXAMPLE = {"id": "L-1", "title": "garden hose 50ft", "label": "benign",
           "note": "flagged by keyword 'hose', harmless"}


def build_router(models: RequestModels) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["feedback"], responses=COMMON_ERRORS)
    feedback_body = Annotated[models.feedback,  # type: ignore[name-defined]
                              Body(openapi_examples={"verdict": {"value": EXAMPLE}})]

    @router.post("/feedback", response_model=FeedbackOut, status_code=201,
                 summary="record a moderator's verdict on a listing")
    async def post_feedback(
        body: feedback_body, principal: FeedbackCaller, services: ServicesDep
    ) -> dict[str, Any]:
        clf = services.state.classifier
        if clf is None:  # the label is checked against the model's classes
            raise ApiError(503, "no model is loaded yet, so the verdict's class cannot be "
                           "checked; retry when /readyz answers 200")
        if body.label not in clf.labels.names:
            raise ApiError(422, f"unknown class {body.label!r}; choose among "
                           f"{list(clf.labels.names)}", field="body.label")
        store = services.feedback
        if store is None:
            raise ApiError(503, "the feedback store is not open yet")
        verdict = Verdict(title=body.title, label=body.label, description=body.description,
                          listing_id=body.id, note=body.note, moderator=principal.name,
                          model_version=clf.version)
        feedback_id = await asyncio.get_running_loop().run_in_executor(None, store.add, verdict)
        services.metrics.feedback.labels(label=body.label).inc()
        return {"feedback_id": feedback_id, "stored": True, "model_version": verdict.model_version}

    return router
