"""Per-key request rate limits: one token bucket per account, refilled at ``rate`` per second up
to ``burst``. Beyond it a request is refused with Kling's 1302 (HTTP 429) and ``Retry-After``.

Separate from the concurrency limit (1303, tasks in flight). Buckets live in this process: with
N API processes behind a balancer a key gets up to N × rate (docs/security.md)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from .errors import Code, KlingError

MAX_BUCKETS = 100_000  # least recently used buckets are dropped (they refill to full anyway)


class RateLimiter:
    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token of ``key``'s bucket: 0.0 when allowed, else seconds until one is back."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait

    def check(self, key: str) -> None:
        """Raise 1302 with ``Retry-After`` when ``key`` is over its rate."""
        wait = self.take(key)
        if wait > 0:
            raise KlingError(
                Code.TOO_FAST,
                f"requests too fast: this key may send {self.rate:g} requests per second "
                f"(bursts of {self.burst}); retry in {wait:.2f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
