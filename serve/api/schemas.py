"""Request and response bodies. The request models are built from the settings, so the
limits (batch size, text lengths) are both enforced and published in the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    create_model,
)

from serve.api.settings import Settings

NON_BLANK = r"\S"  # at least one visible character
CLASS_NAME = r"^[A-Za-z0-9_]{1,64}$"
MAX_MARKET_CHARS = 200  # a marketplace's name (spaces at either end are dropped)
Decision = Literal["block", "review", "allow"]


class FieldError(BaseModel):
    field: str = Field(description="path of the bad input, e.g. body.listings.3.title")
    message: str
    type: str


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable code, e.g. validation_error")
    message: str
    fields: list[FieldError] | None = None
    request_id: str | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# documented on every /v1 route (FastAPI adds no 422 schema of its own when one is given)
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("the body is not valid JSON or not UTF-8"),
    401: _error("no API key, or an unknown one"),
    403: _error("the API key lacks the role this route needs"),
    413: _error("the body is larger than the configured limit"),
    422: _error("invalid input; `fields` names each bad field"),
    429: _error("the key's rate limit is exceeded; see the Retry-After header"),
    503: _error("no model is loaded (yet)"),
}


class ExplanationWord(BaseModel):
    word: str
    weight: float = Field(description="the class's score with the word minus without it, in "
                          "the explanation's unit: positive pushes towards the class")


class ExplanationOut(BaseModel):
    class_name: str = Field(description="the class whose score is explained (the prediction)")
    words: list[ExplanationWord]
    status: Literal["ok", "unsupported", "timeout", "skipped"]
    detail: str = ""
    unit: str = Field("", description="what a weight measures: the class's margin (baseline) "
                      "or its log-odds (transformer, cascade), with the word minus without it; "
                      "empty when no words were computed")


class MarketMixOut(BaseModel):
    market: str
    listings: int = Field(description="the market's earlier listings the estimate rests on")


class ResultOut(BaseModel):
    id: str | None
    label: str
    scores: dict[str, float] = Field(description="every class's calibrated probability")
    decision: Decision
    reason: str
    model_version: str
    market_mix: MarketMixOut | None = Field(
        None, description="the listing's market whose estimated class mix the scores are "
        "corrected to; null: the training mix, or the server's target prior")
    explanation: ExplanationOut | None = None


class ClassifyResponse(BaseModel):
    model_version: str
    results: list[ResultOut]


class FeedbackOut(BaseModel):
    feedback_id: int
    stored: bool = True
    model_version: str | None


class ThresholdPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    block: float | None = Field(None, ge=0.0, le=1.01, description="1.01 = never block")
    review: float | None = Field(None, ge=0.0, le=1.01)


class ThresholdsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thresholds: dict[Annotated[str, StringConstraints(pattern=CLASS_NAME)], ThresholdPatch] = Field(
        min_length=1, description="per illicit class; classes left out keep their thresholds"
    )


class ThresholdsOut(BaseModel):
    model_version: str
    thresholds: dict[str, dict[str, float]]
    stored_in: str


class ModelCard(BaseModel):
    version: str
    kind: str
    labels: list[str]
    negative_label: str
    illicit_labels: list[str]
    thresholds: dict[str, dict[str, float]]
    thresholds_overridden: bool = Field(
        description="whether the thresholds in use differ from the bundle's own")
    thresholds_error: str | None = Field(
        None, description="why the stored overrides were not applied, if they were not")
    target_prior: dict[str, float] | None = Field(
        None, description="the class mix every score is corrected to (the server's "
        "target_prior setting); null: the training mix")
    metrics: dict[str, Any] | None
    data_fingerprint: Any = None
    created_at: str | None
    path: str | None
    loaded_at: float | None
    explanations: bool = Field(description="whether explain=true returns words")
    card: str | None = Field(None, description="the bundle's README.md")
    config: dict[str, Any] = Field(description="the bundle's config.json without file hashes")


class MixOut(BaseModel):
    model_version: str
    market: str | None = Field(None, description="the market asked for; null: every listing")
    listings: int = Field(description="labels of the served model in this process's window")
    seen: int = Field(description="listings this process has scored with the served model")
    min_rows: int = Field(description="labels needed for an estimate")
    method: str = Field(description="how the mix is estimated (bbse)")
    estimated_mix: dict[str, float] | None = Field(
        description="each class's estimated share of the listings scored; null: see detail")
    interval: dict[str, list[float]] | None = Field(
        None, description="95% interval of each share")
    interval_covers: str | None = Field(None, description="what noise the interval covers")
    suggested_target_prior: str | None = Field(
        None, description="the estimate as a target_prior setting (each share at least 0.001)")
    target_prior: dict[str, float] | None = Field(
        None, description="the target prior in force (null: the training mix)")
    detail: str


class ReloadOut(BaseModel):
    reloaded: bool
    version: str | None
    previous: str | None
    error: str | None
    seconds: float


# Tags of the two request forms; they contain a hyphen so they can never clash with a field
# name, and the error handler drops them from field paths.
ONE_LISTING, LISTING_BATCH = "one-listing", "listing-batch"
FORM_TAGS = frozenset({ONE_LISTING, LISTING_BATCH})


def _classify_form(value: Any) -> str:
    has_listings = isinstance(value, dict) and "listings" in value
    has_listings = has_listings or hasattr(value, "listings")
    return LISTING_BATCH if has_listings else ONE_LISTING


@dataclass(frozen=True)
class RequestModels:
    listing: type[BaseModel]
    batch: type[BaseModel]
    classify: Any  # Annotated union of ``listing`` and ``batch``
    feedback: type[BaseModel]


def build_request_models(settings: Settings) -> RequestModels:
    """Pydantic request bodies carrying this server's limits."""
    forbid = ConfigDict(extra="forbid")
    text = {"pattern": NON_BLANK, "min_length": 1}
    title = (str, Field(max_length=settings.max_title_chars, **text,
                        description="the listing's title (required)"))
    description = (str | None, Field(None, max_length=settings.max_description_chars))
    ident = (str | None, Field(None, max_length=settings.max_id_chars,
                               description="your id, echoed in the result"))
    market = (str | None, Field(
        None, max_length=MAX_MARKET_CHARS, pattern=NON_BLANK,
        description="the marketplace the listing comes from: once enough of its listings "
        "have been scored, its scores are corrected to that marketplace's estimated class "
        "mix (see GET /v1/mix)"))
    listing = create_model("Listing", __config__=forbid, title=title, description=description,
                           id=ident, market=market)
    batch = create_model(
        "ListingBatch", __config__=forbid,
        listings=(list[listing], Field(  # type: ignore[valid-type]
            min_length=1, max_length=settings.max_batch,
            description=f"1 to {settings.max_batch} listings")),
    )
    # A body with "listings" is a batch, anything else one listing: errors then come from
    # the form the client meant, with plain field paths (body.listings.3.title).
    classify = Annotated[
        Annotated[listing, Tag(ONE_LISTING)] | Annotated[batch, Tag(LISTING_BATCH)],
        Discriminator(_classify_form),
    ]
    # a verdict's id names the listing: the export keeps the latest verdict per id, so a
    # blank one would merge unrelated listings
    listing_id = (str | None, Field(None, max_length=settings.max_id_chars, **text,
                                    description="your id for the listing, if it has one"))
    feedback = create_model(
        "Feedback",
        __config__=forbid,
        id=listing_id,
        title=(str, Field(max_length=settings.max_title_chars, **text,
                          validation_alias=AliasChoices("title", "text"),
                          description="the listing's title ('text' is accepted too)")),
        description=description,
        label=(str, Field(pattern=CLASS_NAME, description="the true class")),
        note=(str | None, Field(None, max_length=settings.max_note_chars)),
    )
    return RequestModels(listing, batch, classify, feedback)
