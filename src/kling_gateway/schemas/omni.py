"""Request bodies of omni-video, motion-control and avatar (spec more §7.1–§7.3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from .common import (
    MAX_SHOTS,
    PROMPT_MAX,
    VIDEO_ASPECT_RATIOS,
    CommonTaskFields,
    DurationStr,
    ElementRef,
    MultiPromptItem,
    OnOff,
    VideoModeStr,
    WireModel,
    check_multi_shot,
    one_of,
    prompt_needed,
)
from .model_limits import OPEN_LIMITS, catalog_of, default_model, left_to_server, limits_of, models_of

OMNI = "videos/omni-video"
MOTION = "videos/motion-control"


class OmniImage(WireModel):
    image_url: str = Field(min_length=1)
    type: Literal["first_frame", "end_frame"] | None = None


class OmniVideo(WireModel):
    video_url: str = Field(min_length=1)
    refer_type: Literal["feature", "base"] | None = None  # absent = base
    keep_original_sound: Literal["yes", "no"] | None = None


class OmniVideoRequest(CommonTaskFields):
    model_name: str | None = None
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    multi_shot: bool | None = None
    shot_type: Literal["customize", "intelligence"] | None = None
    multi_prompt: list[MultiPromptItem] | None = Field(default=None, min_length=1, max_length=MAX_SHOTS)
    image_list: list[OmniImage] | None = None
    element_list: list[ElementRef] | None = None
    video_list: list[OmniVideo] | None = Field(default=None, max_length=1)
    sound: OnOff | None = None
    mode: VideoModeStr | None = None
    aspect_ratio: str | None = None
    duration: DurationStr | None = None

    @property
    def refer_type(self) -> str | None:
        return (self.video_list[0].refer_type or "base") if self.video_list else None

    def _frames(self) -> tuple[int, int, int]:
        kinds = [i.type for i in self.image_list or []]
        return kinds.count("first_frame"), kinds.count("end_frame"), kinds.count(None)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> OmniVideoRequest:
        catalog = catalog_of(info)
        deferred = left_to_server(info, OMNI, self.model_name)  # an operator's model: its limits
        if not deferred:
            one_of(self.model_name, models_of(OMNI, catalog), name="model_name")
        model = self.model_name or default_model(OMNI, catalog)
        limits = OPEN_LIMITS if deferred else limits_of(OMNI, model, catalog)
        one_of(self.mode, limits.modes, name="mode")
        one_of(self.aspect_ratio, VIDEO_ASPECT_RATIOS, name="aspect_ratio")
        first, end, refs = self._frames()
        elements = len(self.element_list or [])
        refer = self.refer_type
        if first > 1 or end > 1:
            raise ValueError("image_list: at most one first_frame and one end_frame")
        if end and not first:
            raise ValueError("image_list: an end_frame needs a first_frame")
        if self.sound == "on" and not limits.sound:
            raise ValueError(f"sound: 'on' is not available for {model}")
        if self.sound == "on" and refer is not None:
            raise ValueError("sound: must be 'off' with video_list")
        if self.multi_shot and not limits.multi_shot:
            raise ValueError(f"multi_shot: is not available for {model}")
        if refer == "base":
            if first or end:
                raise ValueError("image_list: first_frame/end_frame cannot be used with a base video")
            if self.multi_shot:
                raise ValueError("multi_shot: cannot be used with a base video")
        if refer is None and not first and self.aspect_ratio is None:
            raise ValueError("aspect_ratio: is required without a first_frame image or a base video")
        cap = 4 if refer is not None else 7
        if first + end + refs + elements > cap:
            raise ValueError(
                f"image_list/element_list: images + elements ≤ {cap} "
                f"{'with' if refer else 'without'} video_list (got {first + end + refs + elements})"
            )
        if model == "kling-video-o1" and first and end and (refs or elements):
            raise ValueError(
                "image_list: first and end frame exclude other images and elements on kling-video-o1"
            )
        if refer != "base" and not deferred:
            allowed = limits.durations
            plain = refer is None and not refs and not elements and not end
            if plain and limits.short_durations:  # text-to-video or first-frame-only
                allowed = limits.short_durations
            one_of(self.duration, allowed, name="duration")
        check_multi_shot(self.multi_shot, self.shot_type, self.multi_prompt, self.duration)
        if prompt_needed(self.multi_shot, self.shot_type) and not (self.prompt or "").strip():
            raise ValueError("prompt: is required")
        return self


class MotionControlRequest(CommonTaskFields):
    model_name: str | None = None
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    image_url: str = Field(min_length=1)
    video_url: str = Field(min_length=1)
    keep_original_sound: Literal["yes", "no"] | None = None
    character_orientation: Literal["image", "video"]
    mode: Literal["std", "pro"]
    element_list: list[ElementRef] | None = Field(default=None, max_length=1)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> MotionControlRequest:
        if left_to_server(info, MOTION, self.model_name):
            return self  # an operator's model: its limits are the gateway's
        catalog = catalog_of(info)
        one_of(self.model_name, models_of(MOTION, catalog), name="model_name")
        model = self.model_name or default_model(MOTION, catalog)
        served = catalog.offer(MOTION, model)
        elements = served.offer.contents.get("element", 0) if served is not None else 0
        if len(self.element_list or []) > elements:
            raise ValueError(f"element_list: {model} takes at most {elements} element(s)")
        return self


class AvatarRequest(CommonTaskFields):
    """``videos/avatar/image2video``: a photo speaking an audio (a TTS ``audio_id`` or a file)."""

    image: str = Field(min_length=1)
    audio_id: str | None = None
    sound_file: str | None = None
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    mode: Literal["std", "pro"] | None = None

    @model_validator(mode="after")
    def _rules(self) -> AvatarRequest:
        if bool(self.audio_id) == bool(self.sound_file):
            raise ValueError("audio_id/sound_file: exactly one of audio_id, sound_file is required")
        return self
