"""Field types and rules shared by the request models of several task families."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

PROMPT_MAX = 2500

VIDEO_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
IMAGE_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")


def _duration_string(value: Any) -> Any:
    """Kling sends ``duration`` as a string; accept integral numbers too, as many clients send them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


DurationStr = Annotated[str, BeforeValidator(_duration_string)]


class WireModel(BaseModel):
    """Base of request models: unknown fields are kept (Kling adds fields often) and passed on."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=False, populate_by_name=True)


class WatermarkInfo(WireModel):
    enabled: bool = False


class CommonTaskFields(WireModel):
    """Fields every create call accepts."""

    callback_url: str | None = None
    external_task_id: str | None = Field(default=None, max_length=128)
    watermark_info: WatermarkInfo | None = None

    @field_validator("callback_url")
    @classmethod
    def _callback_is_http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("external_task_id")
    @classmethod
    def _external_id_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


def exactly_one(model: BaseModel, first: str, second: str) -> None:
    """Refuse a body with both or neither of two alternative fields, naming them."""
    if bool(getattr(model, first)) == bool(getattr(model, second)):
        raise ValueError(f"{first}/{second}: exactly one of {first}, {second} is required")


def one_of(value: Any, allowed: tuple[str, ...] | list[str], *, name: str) -> Any:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return value


ModeStr = Literal["std", "pro"]
VideoModeStr = Literal["std", "pro", "4k"]  # 4k: models whose catalogue offer lists the 4k resolution
OnOff = Literal["on", "off"]

MAX_SHOTS = 6
MAX_SHOT_PROMPT = 512


class ElementRef(WireModel):
    element_id: int | str = Field(json_schema_extra={"x-allowed": "an element id of this account"})


class MultiPromptItem(WireModel):
    index: int = Field(ge=1, le=MAX_SHOTS)
    prompt: str = Field(min_length=1, max_length=MAX_SHOT_PROMPT)
    duration: DurationStr = Field(
        json_schema_extra={"x-allowed": "whole seconds ≥ 1; the items add up to the task's duration"}
    )

    @field_validator("duration")
    @classmethod
    def _whole_seconds(cls, value: str) -> str:
        if not value.isdigit() or int(value) < 1:
            raise ValueError("must be a whole number of seconds ≥ 1")
        return value


def check_multi_shot(
    multi_shot: bool | None,
    shot_type: str | None,
    multi_prompt: list[MultiPromptItem] | None,
    duration: str | None,
    default_duration: int = 5,
) -> None:
    """The vendor's multi-shot rules, shared by text2video, image2video and omni-video: a
    ``shot_type`` when ``multi_shot``; with ``customize``, 1–6 shots (each ≥ 1 s, prompt ≤ 512,
    the list's length and items checked by :class:`MultiPromptItem`), indexes 1…n once each,
    adding up to ``duration``."""
    if not multi_shot:
        return
    if shot_type is None:
        raise ValueError("shot_type: is required when multi_shot is true")
    if shot_type != "customize":
        return
    if not multi_prompt:
        raise ValueError("multi_prompt: is required when shot_type is 'customize'")
    indexes = sorted(item.index for item in multi_prompt)
    if indexes != list(range(1, len(multi_prompt) + 1)):
        raise ValueError(f"multi_prompt: indexes must be 1 to {len(multi_prompt)}, each once (got {indexes})")
    total = sum(int(item.duration) for item in multi_prompt)
    expected = int(duration or default_duration)
    if total != expected:
        raise ValueError(f"multi_prompt: durations add up to {total}, must equal duration {expected}")


def prompt_needed(multi_shot: bool | None, shot_type: str | None) -> bool:
    """A prompt is required unless the shots carry their own (``multi_shot`` + ``customize``)."""
    return not (multi_shot and shot_type == "customize")
