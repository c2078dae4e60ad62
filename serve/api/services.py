"""Everything a request handler needs, built once per app and reached through dependencies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from serve.api.auth import KeyStore
from serve.api.batching import MicroBatcher
from serve.api.feedback import FeedbackStore
from serve.api.metrics import Metrics
from serve.api.overrides import ThresholdOverrides
from serve.api.ratelimit import RateLimiter
from serve.api.settings import Settings
from serve.api.state import ModelState


@dataclass
class Services:
    settings: Settings
    keys: KeyStore
    limiter: RateLimiter
    metrics: Metrics
    overrides: ThresholdOverrides
    state: ModelState
    batcher: MicroBatcher
    feedback: FeedbackStore | None = None  # opened at startup
    thresholds_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
