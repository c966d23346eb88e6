"""Typed entries of the model catalogue (``models.toml``): models, what they offer, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Standard = Literal["legacy", "new"]
AudioOption = Literal["native", "original", "off"]
STANDARDS: tuple[Standard, ...] = ("legacy", "new")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Durations(_Entry):
    """Allowed output lengths: a set of ``choices``, a ``min``–``max`` range (whole seconds), or
    ``follows`` an input (the motion/edited video, the avatar's audio)."""

    choices: tuple[int, ...] | None = None
    min: int | None = None
    max: int | None = None
    follows: Literal["video", "audio"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Durations:
        kinds = [self.choices is not None, self.min is not None or self.max is not None, bool(self.follows)]
        if sum(kinds) != 1:
            raise ValueError("durations: give exactly one of choices, min/max, follows")
        if kinds[1] and (self.min is None or self.max is None or self.min > self.max):
            raise ValueError("durations: min and max both needed, min <= max")
        return self

    def allowed(self) -> tuple[int, ...]:
        """The whole-second lengths a request may ask for (empty when the length follows an input)."""
        if self.choices is not None:
            return self.choices
        if self.min is not None and self.max is not None:
            return tuple(range(self.min, self.max + 1))
        return ()


class ReferenceVideo(_Entry):
    """Limits on an input video (omni ``feature_video``/``base_video``)."""

    min_seconds: float | None = None
    max_seconds: float | None = None
    min_side: int | None = None
    max_side: int | None = None
    max_area: int | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None


class Price(_Entry):
    """One line of a price table. Conditions left unset match anything."""

    resolution: str | None = None
    audio: bool | None = None  # sound in the output (native or original)
    voice: bool | None = None  # a voice reference was given
    with_video: bool | None = None  # a reference/base video was given
    with_image: bool | None = None  # a reference image was given (image models)
    units_per_second: Decimal | None = None
    units_per_item: Decimal | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> Price:
        if (self.units_per_second is None) == (self.units_per_item is None):
            raise ValueError("price: give exactly one of units_per_second, units_per_item")
        return self

    def matches(self, usage: Usage) -> bool:
        # spelled out: every admission prices its task through here (a tuple + all() costs 3×)
        return (
            (self.resolution is None or self.resolution == usage.resolution)
            and (self.audio is None or self.audio == usage.audio)
            and (self.voice is None or self.voice == usage.voice)
            and (self.with_video is None or self.with_video == usage.with_video)
            and (self.with_image is None or self.with_image == usage.with_image)
        )


class Usage(_Entry):
    """What a request (or its result) used, for pricing."""

    resolution: str | None = None
    audio: bool = False
    voice: bool = False
    with_video: bool = False
    with_image: bool = False
    seconds: Decimal = Decimal(0)  # output seconds
    items: int = 1  # output items (images, calls)


class Offer(_Entry):
    """One family (on one standard) a model serves, with its rules and prices."""

    family: str
    standard: Standard
    model_id: str | None = None  # id on the wire; default: the model's name (new) / legacy_name
    default: bool = False  # used when a legacy request names no model
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    durations: Durations | None = None
    default_duration: int = 5
    audio: tuple[AudioOption, ...] = ()  # values of settings.audio; empty = no audio field
    default_audio: AudioOption | None = None
    native_audio_resolutions: tuple[str, ...] | None = None  # None = every resolution
    sound_always: bool = False  # output always has sound, no switch (3.0-turbo)
    multi_shot: bool = False  # the multi_shot switch exists (default true)
    aspect_ratios: tuple[str, ...] = ()  # empty = follows the first frame / not asked
    prompt_max: int | None = None
    contents: dict[str, int] = Field(default_factory=dict)  # contents[] type -> max count
    required_contents: tuple[str, ...] = ()
    last_frame_resolutions: tuple[str, ...] | None = None  # None = wherever last_frame is allowed
    last_frame_silent: bool = False  # a last frame only without sound (2.6 image-to-video)
    reference_video: ReferenceVideo | None = None
    prices: tuple[Price, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Offer:
        if self.default_resolution is not None and self.default_resolution not in self.resolutions:
            raise ValueError(f"{self.family}: default_resolution not among resolutions")
        if self.default_audio is not None and self.default_audio not in self.audio:
            raise ValueError(f"{self.family}: default_audio not among audio options")
        missing = [t for t in self.required_contents if t not in self.contents]
        if missing:
            raise ValueError(f"{self.family}: required contents {missing} not allowed")
        return self

    @property
    def resolution_default(self) -> str | None:
        """``settings.resolution`` when the request leaves it out: 720p, else the first listed."""
        if self.default_resolution is not None:
            return self.default_resolution
        if "720p" in self.resolutions:
            return "720p"
        return self.resolutions[0] if self.resolutions else None

    @property
    def audio_default(self) -> AudioOption | None:
        if self.default_audio is not None:
            return self.default_audio
        return "off" if "off" in self.audio else None

    def price(self, usage: Usage) -> Price | None:
        """The first price line that matches, or None when the catalogue has no price for it."""
        for line in self.prices:
            if line.matches(usage):
                return line
        return None

    def units(self, usage: Usage) -> Decimal | None:
        """Units a request with this usage costs (None = no published price)."""
        line = self.price(usage)
        if line is None:
            return None
        if line.units_per_second is not None:
            return line.units_per_second * usage.seconds
        assert line.units_per_item is not None
        return line.units_per_item * usage.items


class ModelSpec(_Entry):
    """One model: its catalogue ``name`` (the new-standard path id where it has one)."""

    name: str
    title: str = ""
    legacy_name: str | None = None
    aliases: tuple[str, ...] = ()
    offers: tuple[Offer, ...] = ()

    def wire_id(self, offer: Offer) -> str:
        """The id clients send for this model on ``offer``'s standard."""
        if offer.model_id is not None:
            return offer.model_id
        if offer.standard == "legacy":
            return self.legacy_name or self.name
        return self.name

    def offer(self, family: str) -> Offer | None:
        return next((o for o in self.offers if o.family == family), None)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(o.family for o in self.offers)


class CatalogFile(_Entry):
    """The shape of ``models.toml`` (and of the config file's ``[[models]]`` tables)."""

    models: tuple[ModelSpec, ...] = ()
    unit_list_price: Decimal | None = None  # money per unit at list price (models.toml only)
    currency: str | None = None
