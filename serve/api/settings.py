"""Server settings: every field can be set by an environment variable ``CONTRABAND_<NAME>``.

``contraband serve`` turns its flags into these variables, so a single worker and several
uvicorn worker processes read exactly the same configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_FEEDBACK_DB = Path("artifacts/feedback/feedback.sqlite3")
DEFAULT_KEYS_FILE = Path("artifacts/api_keys.json")
THRESHOLDS_FILE_NAME = "threshold_overrides.json"


class Settings(BaseSettings):
    """Configuration of one API process (see README.md, "API", for the full table)."""

    model_config = SettingsConfigDict(env_prefix="CONTRABAND_", extra="ignore")

    # which bundle to serve
    model: str = Field("default", description="bundle path, folder name, kind or 'default'")
    models_dir: str | None = Field(
        None, description="models folder (default $CONTRABAND_MODELS or artifacts/models)"
    )
    target_prior: str | None = Field(
        None, description="class mix of the marketplace served, 'benign=0.97,drugs=0.02,...' "
        "(contraband adapt prints one per market): every score is corrected to it; unset: "
        "the training mix")

    # security
    auth: Literal["on", "off"] = Field("on", description="'off' is for local development only")
    api_keys_file: Path = Field(DEFAULT_KEYS_FILE, description="JSON or TOML file of key hashes")
    api_keys: str | None = Field(None, description="JSON list of key hashes, added to the file's")
    rate_limit_per_s: float = Field(50.0, ge=0, description="requests/s per key; 0 = no limit")
    rate_limit_burst: int = Field(100, ge=1, description="requests a key may make at once")

    # request limits
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_batch: int = Field(256, ge=1, le=10_000, description="listings per classify request")
    max_title_chars: int = Field(1_000, ge=1)
    max_description_chars: int = Field(20_000, ge=1)
    max_id_chars: int = Field(256, ge=1)
    max_note_chars: int = Field(2_000, ge=1)

    # micro-batching and inference
    batch_wait_ms: float = Field(2.0, ge=0, le=1_000, description="wait for more requests")
    batch_max_listings: int = Field(256, ge=1, description="listings per model call")
    inference_threads: int = Field(1, ge=1, le=64, description="model calls run at once")

    # the served marketplaces' class mixes (GET /v1/mix, and listings that name a market)
    mix_window: int = Field(10_000, ge=0, le=1_000_000,
                            description="predicted labels kept, per marketplace and in all, "
                            "to estimate the served marketplaces' class mixes; 0 = off")
    mix_min_rows: int = Field(200, ge=1, description="labels needed before a marketplace's "
                              "mix is estimated (GET /v1/mix, market_adaptation)")
    market_adaptation: bool = Field(
        True, description="score a listing that names its market at that market's mix, "
        "estimated from its earlier listings once mix_min_rows have been scored")
    mix_refresh: int = Field(100, ge=1, description="a marketplace's estimate is renewed "
                             "every this many of its listings")
    max_markets: int = Field(1_000, ge=0, le=1_000_000, description="marketplaces whose "
                             "windows are kept (the least recently used is dropped)")

    # explanations
    explain_top_k: int = Field(10, ge=1, le=100)
    explain_budget_s: float = Field(0.25, gt=0, le=30, description="per request, all listings")

    # storage
    feedback_db: Path = Field(DEFAULT_FEEDBACK_DB, description="SQLite file of verdicts")
    thresholds_file: Path | None = Field(
        None, description=f"threshold overrides (default: {THRESHOLDS_FILE_NAME} beside the DB)"
    )

    # logging
    log_level: str = "INFO"
    log_text: bool = Field(False, description="log listing titles (off: logs hold no text)")

    @model_validator(mode="after")
    def _default_thresholds_file(self) -> Settings:
        if self.thresholds_file is None:
            self.thresholds_file = self.feedback_db.parent / THRESHOLDS_FILE_NAME
        return self

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "on"
