"""Request bodies of the audio task families (spec §8.14–8.15)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .common import CommonTaskFields


class TextToAudioRequest(CommonTaskFields):
    prompt: str = Field(min_length=1, max_length=200)
    duration: float = Field(
        ge=3.0, le=10.0, json_schema_extra={"x-allowed": "seconds from 3.0 to 10.0, at most one decimal"}
    )

    @field_validator("duration", mode="before")
    @classmethod
    def _numeric(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a number of seconds")
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ValueError("must be a number of seconds") from None
        return value

    @field_validator("duration")
    @classmethod
    def _one_decimal(cls, value: float) -> float:
        if round(value, 1) != round(value, 6):
            raise ValueError("takes at most one decimal place")
        return value


class VideoToAudioRequest(CommonTaskFields):
    video_id: str | None = None
    video_url: str | None = None
    sound_effect_prompt: str | None = Field(default=None, max_length=200)
    bgm_prompt: str | None = Field(default=None, max_length=200)
    asmr_mode: bool | None = None

    @model_validator(mode="after")
    def _rules(self) -> VideoToAudioRequest:
        if bool(self.video_id) == bool(self.video_url):
            raise ValueError("exactly one of video_id, video_url is required")
        return self
