"""Push settings (callback retry schedule, timeouts, event-stream keep-alive), taken from
:class:`~kling_gateway.config.Settings` (``KLING_GATEWAY_CALLBACK_*`` in the environment)."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings


@dataclass(frozen=True)
class PushConfig:
    callback_timeout_seconds: float
    """Whole-exchange limit for one callback POST (connect, send, answer)."""
    callback_retry_base_seconds: float
    """Delay before the first retry; each later retry doubles it."""
    callback_retry_max_delay_seconds: float
    """Cap on a single delay between two attempts."""
    callback_retry_jitter: float
    """Each delay is multiplied by a random factor in ``[1 - jitter, 1]``."""
    callback_max_attempts: int
    """Attempts (first send included) before a delivery gives up."""
    callback_retry_window_seconds: float
    """No retry is scheduled later than this after the status change."""
    callback_poll_seconds: float
    """Longest the dispatcher sleeps without a wake-up (due retries, other processes)."""
    callback_sweep_seconds: float
    """How often every recent task event is checked for a missing delivery (crash recovery)."""
    callback_concurrency: int
    """Callback POSTs in flight at once per process."""
    sse_keepalive_seconds: float
    """Comment line sent on an idle event stream so proxies keep it open."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PushConfig:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def retry_delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``attempts`` failed attempts: base * 2^(attempts-1), capped, jittered."""
        raw = min(
            self.callback_retry_max_delay_seconds,
            self.callback_retry_base_seconds * 2.0 ** min(attempts - 1, 60),
        )
        factor = 1.0 - self.callback_retry_jitter * (rng or random).random()
        return raw * factor
