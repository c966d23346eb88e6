"""Field types and rules shared by the request models of several task families."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

PROMPT_MAX = 2500

VIDEO_MODELS = (
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
)
TEXT2VIDEO_MODELS = tuple(m for m in VIDEO_MODELS if m not in ("kling-v1-5", "kling-v2-1"))
SOUND_MODELS = ("kling-v2-6", "kling-v3")
VIDEO_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
IMAGE_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")


def allowed_durations(model_name: str | None) -> tuple[str, ...]:
    """Durations (seconds, as strings) a video model accepts; the v3 family takes 3–15."""
    if model_name == "kling-v3":
        return tuple(str(n) for n in range(3, 16))
    return ("5", "10")


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


def one_of(value: Any, allowed: tuple[str, ...] | list[str], *, name: str) -> Any:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return value


ModeStr = Literal["std", "pro"]
OnOff = Literal["on", "off"]
