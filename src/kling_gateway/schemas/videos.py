"""Request bodies of the video task families (spec §8.1–8.7)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, model_validator

from .common import (
    MAX_SHOTS,
    PROMPT_MAX,
    VIDEO_ASPECT_RATIOS,
    CommonTaskFields,
    DurationStr,
    ElementRef,
    ModeStr,
    MultiPromptItem,
    OnOff,
    VideoModeStr,
    WireModel,
    check_multi_shot,
    one_of,
    prompt_needed,
)
from .model_limits import catalog_of, default_model, left_to_server, limits_of, models_of

CAMERA_PRESETS = ("down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_KEYS = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")


class CameraConfig(WireModel):
    horizontal: float = Field(default=0, ge=-10, le=10)
    vertical: float = Field(default=0, ge=-10, le=10)
    pan: float = Field(default=0, ge=-10, le=10)
    tilt: float = Field(default=0, ge=-10, le=10)
    roll: float = Field(default=0, ge=-10, le=10)
    zoom: float = Field(default=0, ge=-10, le=10)


class CameraControl(WireModel):
    type: Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"] = "simple"
    config: CameraConfig | None = None

    @model_validator(mode="after")
    def _config_rules(self) -> CameraControl:
        if self.type == "simple":
            if self.config is None:
                raise ValueError("type 'simple' requires config")
            nonzero = [k for k in CAMERA_KEYS if getattr(self.config, k) != 0]
            if len(nonzero) != 1:
                raise ValueError(
                    f"config must set exactly one of {', '.join(CAMERA_KEYS)} to a non-zero value "
                    f"(got {len(nonzero)})"
                )
        elif self.config is not None:
            raise ValueError(f"type '{self.type}' must be sent without config")
        return self


class _VideoGeneration(CommonTaskFields):
    """Fields text2video and image2video share. Models, modes, durations, sound, multi-shot and
    element counts are the catalogue offer's (``catalog/models.toml``): a model an operator adds
    with ``[[models]]`` is validated by its own entry."""

    model_name: str | None = None
    model: str | None = None  # legacy alias, see spec §3
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    cfg_scale: float | None = Field(default=None, ge=0, le=1)
    mode: VideoModeStr | None = None
    sound: OnOff | None = None
    camera_control: CameraControl | None = None
    duration: DurationStr | None = None
    multi_shot: bool | None = None
    shot_type: Literal["customize", "intelligence"] | None = None
    multi_prompt: list[MultiPromptItem] | None = Field(default=None, min_length=1, max_length=MAX_SHOTS)

    family: ClassVar[str] = ""

    def effective_model(self, info: ValidationInfo | None = None) -> str:
        return self.model_name or default_model(self.family, catalog_of(info))

    @model_validator(mode="after")
    def _shared_rules(self, info: ValidationInfo) -> _VideoGeneration:
        if not left_to_server(info, self.family, self.model_name):
            self._model_rules(info)
        check_multi_shot(self.multi_shot, self.shot_type, self.multi_prompt, self.duration)
        return self

    def _model_rules(self, info: ValidationInfo) -> None:
        """Model, mode, duration, sound and multi-shot as the catalogue's offer allows."""
        catalog = catalog_of(info)
        one_of(self.model_name, models_of(self.family, catalog), name="model_name")
        model = self.model_name or default_model(self.family, catalog)
        limits = limits_of(self.family, model, catalog)
        if self.mode == "4k" and "4k" not in limits.modes:
            with_4k = [
                m for m in models_of(self.family, catalog) if "4k" in limits_of(self.family, m, catalog).modes
            ]
            raise ValueError(
                f"mode: '4k' is not available for {model} (4k: {', '.join(with_4k) or 'no model'})"
            )
        if self.duration is not None and limits.durations and self.duration not in limits.durations:
            raise ValueError(f"duration: must be one of {', '.join(limits.durations)} for {model}")
        if self.sound == "on" and not limits.sound:
            with_sound = [
                m for m in models_of(self.family, catalog) if limits_of(self.family, m, catalog).sound
            ]
            raise ValueError(f"sound: 'on' needs one of {', '.join(with_sound)} (got {model})")
        if self.multi_shot and not limits.multi_shot:
            raise ValueError(f"multi_shot: is not available for {model}")


class Text2VideoRequest(_VideoGeneration):
    aspect_ratio: str | None = None
    family: ClassVar[str] = "videos/text2video"

    @model_validator(mode="after")
    def _text2video_rules(self) -> Text2VideoRequest:
        one_of(self.aspect_ratio, VIDEO_ASPECT_RATIOS, name="aspect_ratio")
        if prompt_needed(self.multi_shot, self.shot_type) and not (self.prompt or "").strip():
            raise ValueError("prompt is required")
        return self


class TrajectoryPoint(WireModel):
    x: int = Field(ge=0)
    y: int = Field(ge=0)


class DynamicMask(WireModel):
    mask: str = Field(min_length=1)
    trajectories: list[TrajectoryPoint] = Field(min_length=2, max_length=77)


class VoiceRef(WireModel):
    voice_id: str = Field(min_length=1)


class Image2VideoRequest(_VideoGeneration):
    image: str | None = None
    image_tail: str | None = None
    static_mask: str | None = None
    dynamic_masks: list[DynamicMask] | None = Field(default=None, min_length=1, max_length=6)
    voice_list: list[VoiceRef] | None = Field(default=None, max_length=2)
    aspect_ratio: str | None = None  # not official for image2video; some clients send it
    element_list: list[ElementRef] | None = None  # kling-v3: ≤ 3 (the catalogue's contents.element)
    family: ClassVar[str] = "videos/image2video"

    @model_validator(mode="after")
    def _image2video_rules(self, info: ValidationInfo) -> Image2VideoRequest:
        if self.element_list and not left_to_server(info, self.family, self.model_name):
            model = self.effective_model(info)
            served = catalog_of(info).offer(self.family, model)
            cap = served.offer.contents.get("element", 0) if served is not None else 0
            if len(self.element_list) > cap:
                takes = f"at most {cap} element(s)" if cap else "no elements"
                raise ValueError(f"element_list: {model} takes {takes} (got {len(self.element_list)})")
        if not self.image and not self.image_tail:
            raise ValueError("at least one of image, image_tail is required")
        groups = {
            "image_tail": bool(self.image_tail),
            "static_mask/dynamic_masks": bool(self.static_mask or self.dynamic_masks),
            "camera_control": self.camera_control is not None,
        }
        chosen = [name for name, used in groups.items() if used]
        if len(chosen) > 1:
            raise ValueError(f"{' and '.join(chosen)} cannot be used together")
        if (self.static_mask or self.dynamic_masks) and not self.image:
            raise ValueError("static_mask and dynamic_masks need image")
        if self.voice_list and self.sound != "on":
            raise ValueError("voice_list requires sound 'on'")
        return self


class ImageItem(WireModel):
    image: str = Field(min_length=1)


class MultiImage2VideoRequest(CommonTaskFields):
    model_name: str | None = None
    image_list: list[ImageItem] = Field(min_length=1, max_length=4)
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    mode: ModeStr | None = None
    duration: DurationStr | None = None
    aspect_ratio: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> MultiImage2VideoRequest:
        one_of(self.model_name, ("kling-v1-6", "kling-v2-1", "kling-v3"), name="model_name")
        one_of(self.duration, ("5", "10"), name="duration")
        one_of(self.aspect_ratio, VIDEO_ASPECT_RATIOS, name="aspect_ratio")
        return self


class MultiElementsRequest(CommonTaskFields):
    model_name: str | None = None
    session_id: str = Field(min_length=1)
    edit_mode: Literal["addition", "swap", "removal"]
    image_list: list[ImageItem] | None = None
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    mode: ModeStr | None = None
    duration: DurationStr | None = None

    @model_validator(mode="after")
    def _rules(self) -> MultiElementsRequest:
        one_of(self.model_name, ("kling-v1-6",), name="model_name")
        one_of(self.duration, ("5", "10"), name="duration")
        count = len(self.image_list or [])
        limits = {"addition": (1, 2), "swap": (1, 1), "removal": (0, 0)}[self.edit_mode]
        if not limits[0] <= count <= limits[1]:
            want = (
                "no images"
                if limits[1] == 0
                else (f"{limits[0]}" if limits[0] == limits[1] else f"{limits[0]}–{limits[1]}") + " image(s)"
            )
            raise ValueError(f"image_list: edit_mode '{self.edit_mode}' takes {want}, got {count}")
        return self


class VideoExtendRequest(CommonTaskFields):
    video_id: str = Field(min_length=1)
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    cfg_scale: float | None = Field(default=None, ge=0, le=1)


class LipSyncInput(WireModel):
    video_id: str | None = None
    video_url: str | None = None
    task_id: str | None = None  # CometAPI: the parent task of video_id
    mode: Literal["text2video", "audio2video"]
    text: str | None = Field(default=None, max_length=120)
    voice_id: str | None = None
    voice_language: Literal["zh", "en"] | None = None
    voice_speed: float | None = Field(default=None, ge=0.8, le=2.0)
    audio_type: Literal["file", "url"] | None = None
    audio_file: str | None = None
    audio_url: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> LipSyncInput:
        if bool(self.video_id) == bool(self.video_url):
            raise ValueError("exactly one of video_id, video_url is required")
        if self.mode == "text2video":
            if not (self.text or "").strip():
                raise ValueError("text is required when mode is 'text2video'")
            if not self.voice_id:
                raise ValueError("voice_id is required when mode is 'text2video'")
        else:
            if self.audio_type is None:
                raise ValueError("audio_type is required when mode is 'audio2video'")
            if self.audio_type == "file" and not self.audio_file:
                raise ValueError("audio_file is required when audio_type is 'file'")
            if self.audio_type == "url" and not self.audio_url:
                raise ValueError("audio_url is required when audio_type is 'url'")
        if self.voice_speed is not None and round(self.voice_speed, 1) != self.voice_speed:
            raise ValueError("voice_speed takes one decimal place")
        return self


class LipSyncRequest(CommonTaskFields):
    input: LipSyncInput


DUAL_SCENES_LEGACY = ("hug", "kiss", "heart_gesture")
DUAL_SCENES = DUAL_SCENES_LEGACY + (
    "fight",
    "hug_pro",
    "kiss_pro",
    "heart_gesture_pro",
    "fight_pro",
    "cheers_2026",
)
SINGLE_SCENES = (
    "bloombloom",
    "dizzydizzy",
    "fuzzyfuzzy",
    "squish",
    "expansion",
    "pet_lion",
    "bullet_time",
    "dollar_rain",
    "balloon_parade",
    "firework",
    "snow_globe",
    "rocket",
    "flower_burst",
    "santa_gift",
    "magic_broom",
    "pixel_world",
    "melting",
    "inflate",
    "explode",
    "jelly_press",
    "rainbow",
    "heart_rain",
    "golden_glow",
)
EFFECT_SCENES = DUAL_SCENES + SINGLE_SCENES


class EffectsInput(WireModel):
    model_name: str | None = None
    mode: ModeStr | None = None
    image: str | None = None
    images: list[str] | None = None
    duration: DurationStr | None = None


class EffectsRequest(CommonTaskFields):
    effect_scene: str
    input: EffectsInput

    @model_validator(mode="after")
    def _rules(self) -> EffectsRequest:
        scene = self.effect_scene
        one_of(scene, EFFECT_SCENES, name="effect_scene")
        inp = self.input
        if scene in DUAL_SCENES:
            if not inp.images or len(inp.images) != 2 or not all(inp.images):
                raise ValueError(f"input.images must hold exactly 2 images for effect_scene '{scene}'")
            if inp.image:
                raise ValueError(f"input.image is not used by effect_scene '{scene}'; send input.images")
            if scene in DUAL_SCENES_LEGACY:
                one_of(inp.model_name, ("kling-v1", "kling-v1-5", "kling-v1-6"), name="input.model_name")
                one_of(inp.duration, ("5", "10"), name="input.duration")
            else:
                one_of(inp.duration, ("5",), name="input.duration")
        else:
            if not inp.image:
                raise ValueError(f"input.image is required for effect_scene '{scene}'")
            if inp.images:
                raise ValueError(f"input.images is not used by effect_scene '{scene}'; send input.image")
            one_of(inp.duration, ("5", "10"), name="input.duration")
        return self
