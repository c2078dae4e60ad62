"""Helpers shared by routers."""

from __future__ import annotations

from fastapi import Request

from model import Classifier
from serve.api.errors import ApiError
from serve.api.services import Services


def current_classifier(services: Services) -> Classifier:
    """The served model, or 503 saying why there is none."""
    clf = services.state.classifier
    if clf is None:
        reason = services.state.load_error or "the model is still loading"
        raise ApiError(503, f"no model is loaded: {reason}", headers={"Retry-After": "5"})
    return clf


def market_key(market: str | None) -> str | None:
    """A marketplace's name as its window is keyed: without spaces at either end, so
    "shop" and "shop " are one marketplace."""
    return None if market is None else market.strip()


def single_query_values(request: Request) -> None:
    """Refuse a query parameter given more than once: each takes one value, and FastAPI
    would silently keep the last."""
    params = request.query_params
    repeated = sorted({key for key in params if len(params.getlist(key)) > 1})
    if repeated:
        raise ApiError(422, f"query parameter(s) {repeated} given more than once; give each "
                       "once", field=f"query.{repeated[0]}")
