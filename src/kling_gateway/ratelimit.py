"""Per-key request rate limits: one token bucket per account, refilled at ``rate`` per second up
to ``burst``. Beyond it a request is refused with Kling's 1302 (HTTP 429) and ``Retry-After``.
The rate and burst are the settings' (``rate_limit_per_second``, ``rate_limit_burst``) unless the
account has its own (set by the operator: admin API, ``keys limits``), which override them.

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

    def take(
        self, key: str, now: float | None = None, rate: float | None = None, burst: int | None = None
    ) -> float:
        """Spend one token of ``key``'s bucket: 0.0 when allowed, else seconds until one is back.
        ``rate`` / ``burst``: the key's own limits, instead of the limiter's (None: the limiter's)."""
        rate = self.rate if rate is None else rate
        size = float(self.burst if burst is None else max(1, burst))
        if rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.pop(key, (size, now))
        tokens = min(size, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / rate
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait

    def check(self, key: str, rate: float | None = None, burst: int | None = None) -> None:
        """Raise 1302 with ``Retry-After`` when ``key`` is over its rate (its own, when given)."""
        wait = self.take(key, rate=rate, burst=burst)
        if wait > 0:
            raise KlingError(
                Code.TOO_FAST,
                f"requests too fast: this key may send {self.rate if rate is None else rate:g} requests "
                f"per second (bursts of {self.burst if burst is None else max(1, burst)}); "
                f"retry in {wait:.2f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
