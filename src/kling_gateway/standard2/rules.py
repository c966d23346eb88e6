"""Per-model rules of the new standard (§3, §4.2–4.4), read from the model catalogue.

:func:`validate` turns a body into the request as stored: settings filled with the model's
defaults, everything else as sent. Every broken rule is a 1201 naming it (:class:`RuleError`,
raised as the envelope by the caller).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..catalog import Offer, Served
from ..errors import KlingError, invalid_parameter
from .products import Product
from .shots import check_shot_total, parse_shots

URL_TYPES = ("first_frame", "last_frame", "refer_image", "feature_video", "base_video", "image", "video")
VIDEO_TYPES = ("feature_video", "base_video")
# Fields of the legacy standard with no place here (§3.1).
LEGACY_FIELDS = (
    "model_name",
    "mode",
    "cfg_scale",
    "negative_prompt",
    "camera_control",
    "image_tail",
    "sound",
)
ORIENTATIONS = ("image", "video")


def _fail(message: str) -> KlingError:
    return invalid_parameter(message)


def _text(value: Any, field: str, limit: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{field} cannot be empty")
    if limit is not None and len(value) > limit:
        raise _fail(f"{field}: at most {limit} characters on this model (got {len(value)})")
    return value


def _contents(product: Product, offer: Offer, raw: Any, prompt_max: int | None) -> list[dict[str, Any]]:
    if raw is None or raw == []:
        raise _fail("contents cannot be empty")
    if not isinstance(raw, list):
        raise _fail("contents must be an array")
    items: list[dict[str, Any]] = []
    ids: set[str] = set()
    for i, item in enumerate(raw):
        where = f"contents[{i}]"
        if not isinstance(item, dict):
            raise _fail(f"{where} must be an object")
        kind = item.get("type")
        if kind not in offer.contents:
            allowed = ", ".join(offer.contents) or "none"
            raise _fail(
                f"{where}.type '{kind}' is not accepted by {product.name} on this model (allowed: {allowed})"
            )
        if kind == "prompt":
            _text(item.get("text"), f"{where}.text", prompt_max)
        elif kind in URL_TYPES:
            _text(item.get("url"), f"{where}.url", None)
        elif kind == "element":
            if item.get("element_id") in (None, ""):
                raise _fail(f"{where}.element_id is required")
        elif kind == "voice":
            _text(item.get("voice_id"), f"{where}.voice_id", None)
        if kind in ("element", "voice") and item.get("id") in (None, ""):
            raise _fail(f"{where}.id is required for a {kind}")
        if item.get("id") not in (None, ""):
            ident = str(item["id"])
            if ident in ids:
                raise _fail(f"{where}.id '{ident}' is used twice in this task")
            ids.add(ident)
        items.append(item)
    counts = Counter(item["type"] for item in items)
    for kind, count in counts.items():
        if count > offer.contents[kind]:
            raise _fail(
                f"contents: at most {offer.contents[kind]} of type {kind} on this model (got {count})"
            )
    for kind in offer.required_contents:
        if not counts[kind]:
            raise _fail(f"contents: a {kind} is required")
    if counts["last_frame"] and not counts["first_frame"]:
        raise _fail("contents: a last_frame needs a first_frame (last-frame-only generation is unsupported)")
    return items


def _settings(product: Product, served: Served, raw: Any) -> dict[str, Any]:
    offer = served.offer
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail("settings must be an object")
    out = dict(raw)
    resolution = raw.get("resolution", offer.resolution_default)
    if resolution not in offer.resolutions:
        raise _fail(f"settings.resolution must be one of {', '.join(offer.resolutions)} on {served.wire_id}")
    out["resolution"] = resolution
    if "aspect_ratio" in raw:
        if not offer.aspect_ratios:
            raise _fail(f"settings.aspect_ratio is not accepted by {product.name} (it follows the inputs)")
        if raw["aspect_ratio"] not in offer.aspect_ratios:
            raise _fail(f"settings.aspect_ratio must be one of {', '.join(offer.aspect_ratios)}")
    durations = offer.durations
    if durations is not None and durations.follows:
        if "duration" in raw:
            raise _fail(
                f"settings.duration is not accepted by {product.name}: the length follows the input {durations.follows}"
            )
    elif durations is not None:
        duration = raw.get("duration", offer.default_duration)
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise _fail("settings.duration must be a JSON integer (seconds), not a string")
        allowed = durations.allowed()
        if duration not in allowed:
            shown = ", ".join(map(str, allowed)) if len(allowed) <= 3 else f"{allowed[0]}–{allowed[-1]}"
            raise _fail(f"settings.duration must be {shown} seconds on {served.wire_id} (got {duration})")
        out["duration"] = duration
    if "audio" in raw and not offer.audio:
        raise _fail(f"settings.audio is not accepted by {served.wire_id}")
    if offer.audio:
        audio = raw.get("audio", offer.audio_default)
        if audio not in offer.audio:
            raise _fail(f"settings.audio must be one of {', '.join(offer.audio)} on {served.wire_id}")
        if audio == "native" and offer.native_audio_resolutions is not None:
            if resolution not in offer.native_audio_resolutions:
                only = ", ".join(offer.native_audio_resolutions)
                raise _fail(f"settings.audio native needs resolution {only} on {served.wire_id}")
        out["audio"] = audio
    if "multi_shot" in raw and not offer.multi_shot:
        raise _fail(f"settings.multi_shot is not accepted by {served.wire_id}")
    if offer.multi_shot:
        multi = raw.get("multi_shot", True)
        if not isinstance(multi, bool):
            raise _fail("settings.multi_shot must be a boolean")
        out["multi_shot"] = multi
    if product.name == "motion-control":
        orientation = raw.get("character_orientation")
        if orientation not in ORIENTATIONS:
            raise _fail("settings.character_orientation is required: image or video")
    elif "character_orientation" in raw:
        raise _fail("settings.character_orientation is accepted by motion-control only")
    return out


def _options(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail("options must be an object")
    for name in ("callback_url", "external_task_id"):
        if name in raw and raw[name] is not None and not isinstance(raw[name], str):
            raise _fail(f"options.{name} must be a string")
    mark = raw.get("watermark_info")
    if mark is not None and (not isinstance(mark, dict) or not isinstance(mark.get("enabled", False), bool)):
        raise _fail('options.watermark_info must be {"enabled": true|false}')
    return dict(raw)


def _omni(
    served: Served, settings: dict[str, Any], items: list[dict[str, Any]], asked: dict[str, Any]
) -> None:
    """§4.3: reference video, frames, counts and their interplay."""
    counts = Counter(item["type"] for item in items)
    is_o1 = served.model.name == "kling-o1"
    videos = counts["feature_video"] + counts["base_video"]
    frames = counts["first_frame"] + counts["last_frame"]
    if videos > 1:
        raise _fail("contents: at most one reference video (feature_video or base_video)")
    if not counts["first_frame"] and not videos and "aspect_ratio" not in settings:
        raise _fail("settings.aspect_ratio is required without a first_frame or a reference video")
    settings.setdefault("aspect_ratio", "16:9")
    audio = settings.get("audio")
    if counts["feature_video"]:
        if audio != "off":
            raise _fail("settings.audio must be off with a feature_video")
        if not is_o1 and settings.get("multi_shot") is False:
            raise _fail("settings.multi_shot must be true with a feature_video on kling-3.0-omni")
        if is_o1 and counts["last_frame"]:
            raise _fail("contents: with a feature_video kling-o1 takes a first_frame only (no last_frame)")
    if counts["base_video"]:
        if frames:
            raise _fail("contents: a base_video edit takes no first_frame or last_frame")
        if asked.get("multi_shot") is True:
            raise _fail("settings.multi_shot cannot be true with a base_video")
        if audio == "native":
            raise _fail("settings.audio cannot be native with a base_video")
        if "multi_shot" in settings:
            settings["multi_shot"] = False
    references = counts["refer_image"] + counts["element"]
    if is_o1 and counts["first_frame"] and counts["last_frame"] and references:
        raise _fail("contents: with first and last frame kling-o1 takes no elements or refer_image")
    limit = 4 if videos else 7
    if references + frames > limit:
        kind = "with" if videos else "without"
        raise _fail(
            f"contents: at most {limit} images and elements {kind} a reference video (got {references + frames})"
        )
    if not is_o1 and frames and counts["element"] > 3:
        raise _fail("contents: at most 3 elements beside a first/last frame")
    if (
        is_o1
        and not videos
        and not references
        and settings.get("duration") not in (5, 10)
        and "duration" in settings
    ):
        raise _fail("settings.duration must be 5 or 10 on kling-o1 without reference images or video")


def _i2v(served: Served, settings: dict[str, Any], items: list[dict[str, Any]]) -> None:
    counts = Counter(item["type"] for item in items)
    offer = served.offer
    if counts["last_frame"] and offer.last_frame_resolutions is not None:
        if settings["resolution"] not in offer.last_frame_resolutions:
            only = ", ".join(offer.last_frame_resolutions)
            raise _fail(f"contents: a last_frame needs resolution {only} on {served.wire_id}")
    if counts["last_frame"] and offer.last_frame_silent and settings.get("audio") == "native":
        raise _fail(f"contents: a last_frame is silent-only on {served.wire_id} (settings.audio off)")
    if counts["voice"] and settings.get("audio") != "native":
        raise _fail("contents: a voice needs settings.audio native")


def _shots(served: Served, settings: dict[str, Any], prompt: str | None) -> None:
    if prompt is None or not served.model.name.startswith("kling-3.0"):
        return
    try:
        shots = parse_shots(prompt)
        if shots is not None and "duration" in settings:
            check_shot_total(shots, settings["duration"])
    except ValueError as exc:
        raise _fail(f"prompt: {exc}") from None


def validate(product: Product, served: Served, body: Any) -> dict[str, Any]:
    """The request as stored (``model`` = catalogue name, settings with defaults), or a 1201."""
    if not isinstance(body, dict):
        raise _fail("request body must be a JSON object")
    offer = served.offer
    stray = [name for name in LEGACY_FIELDS if name in body]
    prompt: str | None = None
    if product.takes_prompt:
        if "contents" in body:
            raise _fail("contents is not accepted by text-to-video: send prompt")
        if stray and "prompt" not in body:
            raise _fail(f"prompt cannot be empty ({', '.join(stray)} belong to the legacy standard)")
        prompt = _text(body.get("prompt"), "prompt", offer.prompt_max)
        items: list[dict[str, Any]] = []
    else:
        if "prompt" in body:
            raise _fail(
                f"prompt is not a top-level field on {product.name}: send a contents item of type prompt"
            )
        items = _contents(product, offer, body.get("contents"), offer.prompt_max)
        texts = [item["text"] for item in items if item["type"] == "prompt"]
        prompt = texts[0] if texts else None
    if stray:
        raise _fail(f"{stray[0]} belongs to the legacy standard; use settings{{}} on this path")
    settings = _settings(product, served, body.get("settings"))
    if product.name == "image-to-video":
        _i2v(served, settings, items)
    elif product.name == "omni-video":
        asked = body.get("settings")
        _omni(served, settings, items, asked if isinstance(asked, dict) else {})
    _shots(served, settings, prompt)
    out: dict[str, Any] = {"model": served.model.name}
    if product.takes_prompt:
        out["prompt"] = prompt
    else:
        out["contents"] = items
    out["settings"] = settings
    out["options"] = _options(body.get("options"))
    return out
