"""What a task costs, from its request alone, so the charge is known (and can be refused) at
admission. :class:`Pricing` reads the model catalogue's price tables (``catalog/models.toml``,
spec-more §9); for a model or family the catalogue has no price for, :func:`price_of` applies
the fallback rules below.

Per-second families are charged for the requested duration; families whose length follows an
input (motion control, base-video edits, lip-sync, avatar) are charged an estimate (5 s) at
admission and re-priced from the output's real length when they finish (:meth:`Pricing.final_price`,
applied by the ledger in the terminal transaction). Models with no published price are
charged like the cheapest listed video model (0.3 / 0.5 units per second, std / pro).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..catalog import Catalog, Usage, resolution_of_mode
from ..standard2.billing import usage_of, whole_seconds
from ..standard2.products import is_standard2
from .units import to_milli

D = Decimal

# The fallback for a video model the catalogue has no price for (the legacy-only models, an
# operator's entry without prices): the cheapest listed video rate, std / pro (4k as pro).
# Catalogued models (kling-v3 4k at 3 units/s, …) are priced by the catalogue alone.
_DEFAULT_VIDEO = (D("0.3"), D("0.5"), D("0.5"))
_DEFAULT_IMAGE = D("8")  # per image: the catalogue's plain image price
_RESOLUTION = {"std": "720p", "pro": "1080p", "4k": "4k"}
_PER_CALL = {  # family -> (package type, units per call)
    "videos/lip-sync": ("video", D("0.5")),
    "videos/effects": ("video", D("0.5")),
    "audio/text-to-audio": ("audio", D("0.25")),
    "audio/video-to-audio": ("audio", D("0.25")),
    "images/kolors-virtual-try-on": ("try_on", D("1")),
}
_PRICED_KEPT = 4096  # distinct (offer, usage) prices kept
_EXTEND_SECONDS = 5  # each extension adds ~4-5 s (spec §8.4)


@dataclass(frozen=True)
class Price:
    """A task's charge: units (milli), the pack type it draws on, and what it is for."""

    milli: int
    package_type: str  # video | image | audio | try_on
    model: str
    resolution: str
    seconds: float | None  # output seconds charged, for per-second families
    items: int  # images, or 1
    slots: int  # concurrency slots it holds (images: n)


def price_of(family: str, body: dict[str, Any]) -> Price:
    """The price of one task of ``family`` with this (validated) request body."""
    model = str(body.get("model_name") or body.get("model") or "")
    if family.startswith("images/") and family != "images/kolors-virtual-try-on":
        return _image_price(model or "kling-v1", body)
    if family in _PER_CALL:
        package, units = _PER_CALL[family]
        return Price(to_milli(units), package, model, "", None, 1, 1)
    mode = str(body.get("mode") or "std")
    resolution = _RESOLUTION.get(mode, "720p")
    rate = _DEFAULT_VIDEO[("720p", "1080p", "4k").index(resolution)]
    seconds = _EXTEND_SECONDS if family == "videos/video-extend" else _seconds(body)
    return Price(to_milli(rate * seconds), "video", model or "kling-v1", resolution, float(seconds), 1, 1)


def _seconds(body: dict[str, Any]) -> int:
    try:
        return max(1, int(float(str(body.get("duration") or "5"))))
    except ValueError:
        return 5


def _image_price(model: str, body: dict[str, Any]) -> Price:
    n = int(body.get("n") or 1)
    resolution = str(body.get("resolution") or "1k")
    return Price(to_milli(_DEFAULT_IMAGE * n), "image", model, resolution, None, n, n)


def package_type_of(family: str) -> str:
    if family == "images/kolors-virtual-try-on":
        return "try_on"
    if family.startswith("images/"):
        return "image"
    if family.startswith("audio/"):
        return "audio"
    return "video"


class Pricing:
    """Prices from the catalogue, the fallback rules where it has none."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        # (the catalogue's offer, usage) -> its price: the price is a function of those alone, and
        # every create is priced (Usage, the price lines, the rounding: about half of a price_of)
        self._priced: dict[tuple[Any, ...], Price] = {}
        self.estimated_families = frozenset(
            offer.family
            for spec in catalog
            for offer in spec.offers
            if (offer.durations is not None and offer.durations.follows) or "base_video" in offer.contents
        )

    def follows_input(self, family: str, body: dict[str, Any]) -> bool:
        """Whether this task's output length follows an input (so admission charged an estimate)."""
        if family not in self.estimated_families:
            return False
        served = self.catalog.offer(family, _model_of(body))
        if served is None:
            return False
        durations = served.offer.durations
        if durations is not None and durations.follows:
            return True
        if is_standard2(family):
            return any(item.get("type") == "base_video" for item in body.get("contents") or [])
        videos = body.get("video_list") or []  # legacy omni: a video without refer_type is the base
        return any((v.get("refer_type") or "base") == "base" for v in videos if isinstance(v, dict))

    def final_price(self, family: str, body: dict[str, Any], output_seconds: float) -> Price | None:
        """The price for the output's real length, for a task whose length follows an input;
        None for the others (they cost what admission charged)."""
        if not self.follows_input(family, body):
            return None
        return self.price_of(family, body, output_seconds)

    def price_of(self, family: str, body: dict[str, Any], output_seconds: float | None = None) -> Price:
        """The price of a task from its request; ``output_seconds`` (at completion) replaces the
        estimate where the length follows an input."""
        served = self.catalog.offer(family, _model_of(body))
        if served is None:
            return price_of(family, body)
        offer = served.offer
        if is_standard2(family):  # settings{} and contents[] (standard2/billing.py reads them)
            length = float(offer.default_duration) if output_seconds is None else output_seconds
            usage2 = usage_of(body, length, offer.sound_always)
            units2 = offer.units(usage2)
            if units2 is not None:
                return Price(
                    to_milli(units2),
                    package_type_of(family),
                    served.wire_id,
                    usage2.resolution or "",
                    float(usage2.seconds),
                    1,
                    1,
                )
        image_family = family.startswith("images/")
        items = int(body.get("n") or 1) if image_family else 1
        if image_family:
            resolution = str(body.get("resolution") or offer.resolution_default or "1k")
        else:
            resolution = resolution_of_mode(body.get("mode")) if offer.resolutions else ""
        per_second = any(p.units_per_second is not None for p in offer.prices)
        if not per_second:
            seconds = D(0)
        elif output_seconds is not None:
            seconds = whole_seconds(output_seconds)
        else:
            seconds = D(_seconds(body) if body.get("duration") else offer.default_duration)
        audio = str(body.get("sound") or "off") == "on"
        voice = bool(body.get("voice_list"))
        with_video = bool(body.get("video_list") or body.get("video_url"))
        with_image = bool(body.get("image") or body.get("image_reference"))
        key = (id(served), resolution, audio, voice, with_video, with_image, seconds, items)
        known = self._priced.get(key)
        if known is not None:
            return known
        usage = Usage(
            resolution=resolution or None,
            audio=audio,
            voice=voice,
            with_video=with_video,
            with_image=with_image,
            seconds=seconds,
            items=items,
        )
        units = offer.units(usage)
        if units is None:
            return price_of(family, body)
        price = Price(
            to_milli(units),
            package_type_of(family),
            served.wire_id,
            resolution,
            float(seconds) if per_second else None,
            items,
            items,
        )
        if len(self._priced) >= _PRICED_KEPT:
            self._priced.clear()
        self._priced[key] = price
        return price


def _model_of(body: dict[str, Any]) -> str | None:
    model = body.get("model_name") or body.get("model")
    return str(model) if model else None
