"""Request bodies of the audio task families (spec §8.14–8.15)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .common import CommonTaskFields, WireModel, exactly_one
from .tts_voices import TTS_VOICES


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
        exactly_one(self, "video_id", "video_url")
        return self


class TtsRequest(WireModel):
    """``audio/tts`` (spec more §7.5): synchronous, so no callback_url or external_task_id."""

    text: str = Field(min_length=1, max_length=1000)
    voice_id: str = Field(min_length=1)
    voice_language: Literal["zh", "en"] | None = None  # default zh
    voice_speed: float | None = Field(
        default=None, json_schema_extra={"x-allowed": "0.8–2.0, one decimal; other values are clamped"}
    )

    @field_validator("voice_speed")
    @classmethod
    def _clamp(cls, value: float | None) -> float | None:
        return None if value is None else round(min(2.0, max(0.8, value)), 1)

    @model_validator(mode="after")
    def _voice_rules(self) -> TtsRequest:
        if not self.text.strip():
            raise ValueError("text: must not be blank")
        voice = TTS_VOICES.get(self.voice_id)
        if voice is None:
            raise ValueError(f"voice_id: Voice id not found ('{self.voice_id}' is not a TTS voice)")
        language = self.voice_language or "zh"
        if voice[0] != language:
            raise ValueError(
                f"voice_language: '{language}' does not match voice '{self.voice_id}' ({voice[0]})"
            )
        return self
