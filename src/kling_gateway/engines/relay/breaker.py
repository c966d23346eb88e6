"""Per-channel health: a circuit breaker for failures and a back-off for rate limits.

The breaker opens after ``threshold`` consecutive failures (5xx, timeouts, unreachable, auth or
account errors) and stays open for ``cooldown`` seconds; then one trial request is let through
(half-open): success closes it, failure opens it again. A 1302/1303 answer is not a failure of
the channel — it says "not now" — so it only sets a busy-until time that doubles while it repeats.
State is per process (each replica learns on its own; no shared state to go stale).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        cooldown: float,
        busy_backoff: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.threshold = threshold
        self.cooldown = cooldown
        self.busy_backoff = busy_backoff
        self._clock = clock
        self.failures = 0
        self.open_until = 0.0
        self._trial_at = 0.0
        self.busy_until = 0.0
        self._busy_streak = 0

    @property
    def state(self) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "open" if self._clock() < self.open_until else "half-open"

    def available(self) -> bool:
        """May a request go to this channel now? Half-open admits one trial per cool-down."""
        now = self._clock()
        if now < self.busy_until:
            return False
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and now >= self._trial_at:
            self._trial_at = now + self.cooldown  # one trial at a time
            return True
        return False

    def wait_hint(self) -> float:
        """Seconds until the channel may take a request again (0 when it may now)."""
        now = self._clock()
        until = max(self.busy_until, self.open_until if self.failures >= self.threshold else 0.0)
        return max(0.0, until - now)

    def success(self) -> None:
        self.failures = 0
        self.open_until = 0.0
        self._busy_streak = 0

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = self._clock() + self.cooldown
            self._trial_at = self.open_until

    def busy(self) -> float:
        """Record a rate/concurrency refusal; returns the back-off applied."""
        delay = min(self.busy_backoff * 2.0**self._busy_streak, 60.0)
        self._busy_streak = min(self._busy_streak + 1, 10)
        self.busy_until = self._clock() + delay
        return delay
