"""``GET /v1/model`` (the model card), ``GET /v1/mix`` (the served marketplace's estimated
class mix) and ``PUT /v1/thresholds`` (admin)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from model.bundle import CARD_FILE, dataset_fingerprint
from model.explain import supports_explanations
from model.thresholds import ClassThresholds
from serve.api.errors import ApiError
from serve.api.mix import served_mix
from serve.api.routes.common import current_classifier, market_key
from serve.api.schemas import (
    COMMON_ERRORS,
    MAX_MARKET_CHARS,
    NON_BLANK,
    MixOut,
    ModelCard,
    ThresholdsOut,
    ThresholdsUpdate,
)
from serve.api.security import AdminCaller, ClassifyCaller
from serve.api.services import ServicesDep

router = APIRouter(prefix="/v1", tags=["model"], responses=COMMON_ERRORS)


def _read_card(clf: Any) -> str | None:
    if clf.path is None:
        return None
    try:
        return (clf.path / CARD_FILE).read_text(encoding="utf-8")
    except OSError:
        return None


@router.get("/model", response_model=ModelCard, summary="the served model's card")
async def model_card(
    _: ClassifyCaller,
    services: ServicesDep,
) -> dict[str, Any]:
    clf = current_classifier(services)
    config = {k: v for k, v in clf.config.items() if k != "files"}
    return {
        "version": clf.version,
        "kind": str(config.get("kind", "unknown")),
        "labels": list(clf.labels.names),
        "negative_label": clf.labels.negative,
        "illicit_labels": list(clf.labels.illicit),
        "thresholds": {n: t.to_dict() for n, t in clf.thresholds.items()},
        "thresholds_overridden": clf.thresholds != clf.bundle_thresholds,
        "thresholds_error": services.state.overrides_error,
        "target_prior": clf.target_prior_by_class(),
        "metrics": config.get("metrics"),
        "data_fingerprint": dataset_fingerprint(config),
        "created_at": None if config.get("created_at") is None else str(config["created_at"]),
        "path": None if clf.path is None else str(clf.path),
        "loaded_at": services.state.loaded_at,
        "explanations": supports_explanations(clf),
        "card": _read_card(clf),
        "config": config,
    }


@router.get("/mix", response_model=MixOut,
            summary="a served marketplace's class mix, estimated from the listings scored")
async def mix(
    _: ClassifyCaller,
    services: ServicesDep,
    market: Annotated[str | None, Query(
        max_length=MAX_MARKET_CHARS, pattern=NON_BLANK,
        description="a market named in classify requests; left out: every listing")] = None,
) -> dict[str, Any]:
    """The class mix of the listings this process scored lately (the last `mix_window` of
    `market`'s, or of all), by BBSE against the bundle's validation confusion matrix, with a
    95% interval and the `target_prior` setting that would serve that mix. A market's
    estimate is also what its next listings are scored at (`market_adaptation`).
    `estimated_mix` is null, and `detail` says why, until `mix_min_rows` listings have been
    scored, with `mix_window` 0, or for a bundle that records no confusion matrix."""
    clf = current_classifier(services)
    return await asyncio.get_running_loop().run_in_executor(
        None, served_mix, clf, services.state.mixes_for(clf),
        services.settings.mix_min_rows, market_key(market))


@router.put("/thresholds", response_model=ThresholdsOut,
            summary="change decision thresholds now and for later restarts (admin)")
async def put_thresholds(
    update: ThresholdsUpdate,
    _: AdminCaller,
    services: ServicesDep,
) -> dict[str, Any]:
    async with services.thresholds_lock:
        clf = current_classifier(services)
        merged = {n: t.to_dict() for n, t in clf.thresholds.items()}
        for name, patch in update.thresholds.items():
            field = f"body.thresholds.{name}"
            if name not in clf.labels.illicit:
                raise ApiError(422, f"{name!r} is not an illicit class of this model; "
                               f"choose among {list(clf.labels.illicit)}", field=field)
            values = {**merged[name], **patch.model_dump(exclude_none=True)}
            try:
                ClassThresholds(float(values["block"]), float(values["review"]))
            except ValueError as exc:
                raise ApiError(422, str(exc), field=field) from None
            merged[name] = values
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, services.overrides.set, clf.version, merged)
        except ValueError as exc:  # the file is there but unreadable: say so, change nothing
            raise ApiError(500, f"the change was not applied: {exc}; fix or remove that file",
                           code="overrides_unreadable") from None
        clf.set_thresholds(merged)
        services.state.note_overrides_written()
        return {"model_version": clf.version,
                "thresholds": {n: t.to_dict() for n, t in clf.thresholds.items()},
                "stored_in": str(services.overrides.path)}
