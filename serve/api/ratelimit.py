"""Per-key token buckets: ``rate`` requests a second on average, ``burst`` at once."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, rate_per_s: float | None = None) -> float:
        """Take one token for ``key``: 0.0 when allowed, else seconds until one is free."""
        rate = self.rate if rate_per_s is None else rate_per_s
        if rate <= 0:
            return 0.0
        burst = max(self.burst, 1)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(burst), now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; never 0, which would invite an immediate retry."""
    return str(max(1, math.ceil(wait_s)))
