"""Request bodies of the custom voices API (spec more §7.6)."""

from __future__ import annotations

from pydantic import Field, model_validator

from .common import CommonTaskFields, WireModel

VOICES = "general/custom-voices"
VOICE_CLIP_S = (5.0, 30.0)  # one clean voice, 5–30 s (checked on the decoded clip)
VOICE_PAGE_SIZE_MAX = 1000  # voices list pageSize 1–1000 (other lists: 1–500)


class VoiceRequest(CommonTaskFields):
    voice_name: str = Field(min_length=1, max_length=20)
    voice_url: str | None = Field(default=None, min_length=1)
    video_id: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> VoiceRequest:
        if (self.voice_url is None) == (self.video_id is None):
            raise ValueError("exactly one of voice_url, video_id is required")
        return self


class DeleteVoiceRequest(WireModel):
    voice_id: str = Field(min_length=1)
