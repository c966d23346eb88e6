"""Request bodies of identify-face, advanced lip-sync, image-recognize and ai-multi-shot
(spec §8.6.2–8.6.3, more §7.4, §7.8, §7.9).

What a body alone decides is checked here (400/1201, nothing stored). What needs the session,
the audio or the source video (the face exists, the insertion overlaps its window, the clip lies
inside the audio) is checked at create time by the service (``face_refs``) or, for media only a
worker fetches, by the engine.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .common import CommonTaskFields, WireModel, exactly_one

IDENTIFY_FACE = "videos/identify-face"
ADVANCED_LIP_SYNC = "videos/advanced-lip-sync"
IMAGE_RECOGNIZE = "videos/image-recognize"
AI_MULTI_SHOT = "general/ai-multi-shot"

MIN_CLIP_MS = 2000  # the clipped audio and its overlap with the face window: at least 2 s
MAX_CLIP_MS = 60_000
LIP_SYNC_AUDIO_S = (2.0, 60.0)  # an audio_id or sound_file of advanced lip-sync
SEGMENT_TYPES = ("object_seg", "head_seg", "face_seg", "cloth_seg")


class IdentifyFaceRequest(WireModel):
    """``videos/identify-face``: synchronous, so no callback_url or external_task_id."""

    video_id: str | None = None
    video_url: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IdentifyFaceRequest:
        exactly_one(self, "video_id", "video_url")
        return self


class FaceChoice(WireModel):
    face_id: str = Field(min_length=1)
    audio_id: str | None = None
    sound_file: str | None = None
    sound_start_time: int = Field(ge=0, json_schema_extra={"x-allowed": "ms into the audio, ≥ 0"})
    sound_end_time: int = Field(ge=0, json_schema_extra={"x-allowed": "ms into the audio, ≥ 0"})
    sound_insert_time: int = Field(ge=0, json_schema_extra={"x-allowed": "ms into the video, ≥ 0"})
    sound_volume: float = Field(default=1.0, ge=0.0, le=2.0)
    original_audio_volume: float = Field(default=1.0, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _rules(self) -> FaceChoice:
        exactly_one(self, "audio_id", "sound_file")
        clip = self.sound_end_time - self.sound_start_time
        if clip < MIN_CLIP_MS:
            raise ValueError(
                f"sound_end_time: the clip {self.sound_start_time}–{self.sound_end_time} ms is "
                f"{clip} ms, shorter than {MIN_CLIP_MS} ms"
            )
        if clip > MAX_CLIP_MS:
            raise ValueError(f"sound_end_time: the clip is {clip} ms, longer than {MAX_CLIP_MS} ms")
        return self

    @property
    def clip_ms(self) -> int:
        return self.sound_end_time - self.sound_start_time


class AdvancedLipSyncRequest(CommonTaskFields):
    session_id: str = Field(min_length=1)
    face_choose: list[FaceChoice] = Field(
        min_length=1, max_length=1, json_schema_extra={"x-allowed": "exactly one face per task"}
    )


class ImageRecognizeRequest(WireModel):
    """``videos/image-recognize``: synchronous; the image is checked like every image input."""

    image: str = Field(min_length=1)


class AiMultiShotRequest(CommonTaskFields):
    element_frontal_image: str = Field(min_length=1)
