"""What a new-standard request uses, for pricing from the catalogue (§9; accounting/pricing.py)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..catalog import Usage

SOUND_ON = ("native", "original")


def whole_seconds(seconds: float) -> Decimal:
    """An output's length as billed: whole seconds, rounded half up, at least 1."""
    return max(Decimal(1), Decimal(str(seconds)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_of(request: dict[str, Any], output_seconds: float, sound_always: bool = False) -> Usage:
    """What a stored new-standard request used. Seconds: the duration asked for; where the
    length follows an input (motion control, base-video edit), the output's, rounded."""
    settings = request.get("settings") or {}
    kinds = {item.get("type") for item in request.get("contents") or []}
    asked = settings.get("duration")
    if isinstance(asked, int) and "base_video" not in kinds:
        seconds = Decimal(asked)
    else:
        seconds = whole_seconds(output_seconds)
    return Usage(
        resolution=settings.get("resolution"),
        audio=sound_always or settings.get("audio") in SOUND_ON,
        voice="voice" in kinds,
        with_video=bool(kinds & {"feature_video", "base_video"}),
        seconds=seconds,
    )
