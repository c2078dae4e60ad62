"""Request and response bodies. The request models are built from the settings, so the
limits (batch size, text lengths) are both enforced and published in the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model, model_validator

from serve.api.settings import Settings

NON_BLANK = r"\S"  # at least one visible character
CLASS_NAME = r"^[A-Za-z0-9_]{1,64}$"
Decision = Literal["block", "review", "allow"]


class ExplanationWord(BaseModel):
    word: str
    weight: float = Field(description="signed share of the class's decision score")


class ExplanationOut(BaseModel):
    class_name: str = Field(description="the class whose score is explained (the prediction)")
    words: list[ExplanationWord]
    status: Literal["ok", "unsupported", "timeout", "skipped"]
    detail: str = ""


class ResultOut(BaseModel):
    id: str | None
    label: str
    scores: dict[str, float] = Field(description="every class's calibrated probability")
    decision: Decision
    reason: str
    model_version: str
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
    thresholds: dict[str, ThresholdPatch] = Field(
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
    thresholds_overridden: bool
    metrics: dict[str, Any] | None
    data_fingerprint: Any = None
    created_at: str | None
    path: str | None
    loaded_at: float | None
    explanations: bool = Field(description="whether explain=true returns words")
    card: str | None = Field(None, description="the bundle's README.md")
    config: dict[str, Any] = Field(description="the bundle's config.json without file hashes")


class ReloadOut(BaseModel):
    reloaded: bool
    version: str | None
    previous: str | None
    error: str | None
    seconds: float


@dataclass(frozen=True)
class RequestModels:
    listing: type[BaseModel]
    classify: type[BaseModel]
    feedback: type[BaseModel]


def build_request_models(settings: Settings) -> RequestModels:
    """Pydantic request bodies carrying this server's limits."""
    forbid = ConfigDict(extra="forbid")
    text = {"pattern": NON_BLANK, "min_length": 1}
    title = (str, Field(max_length=settings.max_title_chars, **text,
                        description="the listing's title (required)"))
    title_opt = (str | None, Field(None, max_length=settings.max_title_chars, **text,
                                   description="one listing: its title"))
    description = (str | None, Field(None, max_length=settings.max_description_chars))
    ident = (str | None, Field(None, max_length=settings.max_id_chars,
                               description="your id, echoed in the result"))
    listing = create_model("Listing", __config__=forbid, title=title, description=description,
                           id=ident)

    def one_form(self: Any) -> Any:
        single = self.title is not None
        if single == (self.listings is not None):
            raise ValueError("send either 'title' (one listing) or 'listings' (a list), "
                             "not both and not neither")
        if not single and (self.description is not None or self.id is not None):
            raise ValueError("with 'listings', 'description' and 'id' go inside each item")
        return self

    classify = create_model(
        "ClassifyRequest",
        __config__=forbid,
        __validators__={"one_form": model_validator(mode="after")(one_form)},
        title=title_opt,
        description=description,
        id=ident,
        listings=(list[listing] | None, Field(  # type: ignore[valid-type]
            None, min_length=1, max_length=settings.max_batch,
            description=f"up to {settings.max_batch} listings")),
    )
    feedback = create_model(
        "Feedback",
        __config__=forbid,
        id=ident,
        title=(str, Field(max_length=settings.max_title_chars, **text,
                          validation_alias=AliasChoices("title", "text"),
                          description="the listing's title ('text' is accepted too)")),
        description=description,
        label=(str, Field(pattern=CLASS_NAME, description="the true class")),
        note=(str | None, Field(None, max_length=settings.max_note_chars)),
    )
    return RequestModels(listing, classify, feedback)
