"""Helpers shared by routers."""

from __future__ import annotations

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
