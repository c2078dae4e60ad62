"""``POST /v1/classify``: one listing or a batch, micro-batched with other requests."""

# no ``from __future__ import annotations``: FastAPI must see the request model built at
# run time (a local variable) as a real type, not as a string it cannot resolve.
import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from model import Classifier, Listing, Prediction
from model.explain import Explanation, explain
from serve.api.routes.common import current_classifier, market_key
from serve.api.schemas import COMMON_ERRORS, ClassifyResponse, RequestModels
from serve.api.security import ClassifyCaller
from serve.api.services import ServicesDep

log = logging.getLogger("contraband.api")


def _explain_all(clf: Classifier, listings: list[Listing], predictions: list[Prediction],
                 top_k: int, budget_s: float) -> list[Explanation]:
    """Explain each prediction's class while the request's time budget lasts."""
    deadline = time.perf_counter() + budget_s
    return [
        explain(clf, listing, top_k, deadline - time.perf_counter(), class_name=pred.label)
        for listing, pred in zip(listings, predictions, strict=True)
    ]


def build_router(models: RequestModels) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["classify"], responses=COMMON_ERRORS)
    examples = {
        "one": {"value": {"title": "Glock 19 with 2 mags", "id": "L-1"}},
        "batch": {"value": {"listings": [
            {"title": "5g MDMA crystal", "description": "84% pure", "id": "a"},
            {"title": "garden hose 50ft", "id": "b"}]}},
        "market": {"value": {"listings": [
            {"title": "HTC AMAZE 4G", "id": "c-1", "market": "craigslist"},
            {"title": "Madden 25 PS3", "id": "c-2", "market": "craigslist"}]}},
    }
    classify_body = Annotated[models.classify,  # type: ignore[name-defined]
                              Body(openapi_examples=examples)]

    @router.post(
        "/classify",
        response_model=ClassifyResponse,
        summary="classify one listing or a list of listings",
    )
    async def classify(
        body: classify_body,
        principal: ClassifyCaller,
        services: ServicesDep,
        explain_: Annotated[bool, Query(alias="explain", description=(
            "add the words that pushed each score most"))] = False,
        top_k: Annotated[int | None, Query(ge=1, le=100,
                                           description="words per explanation")] = None,
    ) -> dict[str, Any]:
        current_classifier(services)  # 503 early when nothing is loaded
        if hasattr(body, "listings"):
            listings = [Listing(x.title, x.description, x.id, market_key(x.market))
                        for x in body.listings]
        else:
            listings = [Listing(body.title, body.description, body.id,
                                market_key(body.market))]
        if services.settings.log_text:
            log.info("classify input", extra={"titles": [x.title for x in listings],
                                               "key": principal.name})
        predictions = await services.batcher.submit(listings)
        results = [
            {"id": p.id, "label": p.label, "scores": p.scores, "decision": p.decision,
             "reason": p.reason, "model_version": p.model_version,
             "market_mix": p.extra.get("market_mix")}
            for p in predictions
        ]
        if explain_:
            clf = services.state.classifier_for(predictions[0].model_version)
            k = top_k or services.settings.explain_top_k
            explanations = await asyncio.get_running_loop().run_in_executor(
                None, _explain_all, clf, listings, predictions, k,
                services.settings.explain_budget_s)
            for result, item in zip(results, explanations, strict=True):
                result["explanation"] = item.to_dict()
                services.metrics.explanations.labels(status=item.status).inc()
        return {"model_version": predictions[0].model_version, "results": results}

    return router
