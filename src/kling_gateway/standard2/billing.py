"""Units a finished new-standard task costs, from the catalogue's prices (§9)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..catalog import Catalog, Usage, format_units

SOUND_ON = ("native", "original")


def usage_of(request: dict[str, Any], output_seconds: float, sound_always: bool = False) -> Usage:
    """What a stored new-standard request used. Seconds: the duration asked for; where the
    length follows an input (motion control, base-video edit), the output's, rounded."""
    settings = request.get("settings") or {}
    kinds = {item.get("type") for item in request.get("contents") or []}
    asked = settings.get("duration")
    if isinstance(asked, int) and "base_video" not in kinds:
        seconds = Decimal(asked)
    else:
        seconds = Decimal(str(output_seconds)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Usage(
        resolution=settings.get("resolution"),
        audio=sound_always or settings.get("audio") in SOUND_ON,
        voice="voice" in kinds,
        with_video=bool(kinds & {"feature_video", "base_video"}),
        seconds=seconds,
    )


def units_text(catalog: Catalog, family: str, request: dict[str, Any], output_seconds: float) -> str | None:
    """``final_unit_deduction`` / ``billing[].amount`` as a string; None when unpriced."""
    served = catalog.offer(family, request.get("model"))
    if served is None:
        return None
    units = served.offer.units(usage_of(request, output_seconds, served.offer.sound_always))
    return None if units is None else format_units(units)
